import { deserialize } from 'flatgeobuf/lib/mjs/geojson.js';
import type { HeaderMeta } from 'flatgeobuf/lib/mjs/header-meta.js';
import type { ClassMap } from '../../src/labels/classMap.js';

/** A class map of these names, each label named as its class; colours do not matter to polygon files. */
export function namedClassMap(names: string[]): ClassMap {
  return {
    names,
    ids: new Map(names.map((name, id) => [name, id])),
    ignoreValue: 255,
    colors: names.map(() => [0, 0, 0]),
  };
}

/** The features and header of a FlatGeobuf file, as the flatgeobuf library reads them. */
export async function readFlatGeobuf(bytes: Uint8Array) {
  let header: HeaderMeta | undefined;
  const features = [];
  for await (const feature of deserialize(bytes, {
    headerMetaFn: (meta: HeaderMeta) => void (header = meta),
  }))
    features.push({ type: 'Feature', properties: feature.properties, geometry: feature.geometry });
  return { header: header!, features };
}
