import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { isDeepStrictEqual } from 'node:util';
import { InputError } from '../errors.js';
import { writeFileAtomically } from '../io/stagedOutput.js';
import type { GeoReference } from '../types.js';
import { type Shard, shardName } from '../util/shard.js';

/** The commands that run in shards. */
export const SHARDED_COMMANDS = ['prepare', 'predict', 'eval'] as const;
export type ShardedCommand = (typeof SHARDED_COMMANDS)[number];

/** A file a shard wrote, relative to the command's output folder. */
export interface OutputFile {
  path: string;
  bytes: number;
  sha256: string;
}

/**
 * Rows of one raster that a shard predicted when the raster was split between the shards (predict
 * `--shard-by rows`): the part it wrote, and what `merge` needs to assemble the whole file from the parts.
 */
export interface RowPart {
  /** The raster, relative to the images folder. */
  input: string;
  /** The part this shard wrote, relative to the output folder (listed in `outputs` too). */
  path: string;
  /** Its rows of the raster, `start` included, `end` excluded. */
  start: number;
  end: number;
  /** The file `merge` assembles from the raster's parts, relative to the output folder. */
  output: string;
  /** The whole raster's size and georeference, so that `merge` need not read the raster. */
  width: number;
  height: number;
  georeference?: GeoReference;
}

/** The parts of one raster in row order, checked to cover it once, for `merge` to assemble into `output`. */
export interface RowAssembly {
  input: string;
  output: string;
  width: number;
  height: number;
  georeference?: GeoReference;
  parts: Array<{ path: string; start: number; end: number }>;
}

/**
 * What one shard of a command did: `OUT/shards/<command>-<i>-of-<N>.json`. It holds no time or host, so a
 * shard that is rerun writes the same manifest.
 */
export interface ShardManifest<Result = unknown> {
  command: ShardedCommand;
  shard: Shard;
  /** The command's options (all shards of a job must have the same). */
  settings: Record<string, unknown>;
  /** The images the shard took whole, sorted: paths relative to its images folder (eval: the pairs' ids). */
  inputs: string[];
  /** The files it wrote, sorted by path. */
  outputs: OutputFile[];
  /** The rows it predicted of rasters split between the shards (predict only). */
  parts?: RowPart[];
  /** What the command reports (prepare's pixel counts, eval's confusion matrix), for `merge` to add up. */
  result: Result;
}

/** The shards of one job, checked complete and consistent by {@link mergeShardManifests}. */
export interface MergedManifest<Result = unknown> {
  command: ShardedCommand;
  shards: number;
  settings: Record<string, unknown>;
  inputs: string[];
  outputs: OutputFile[];
  /** The rasters split between the shards, each with its parts, by input. */
  assemblies: RowAssembly[];
  /** Each shard's result, in shard order. */
  results: Result[];
}

/** The folder of a command's shard manifests inside its output folder. */
export const shardsFolder = (outDir: string): string => join(outDir, 'shards');

/** Where `merge` writes the merged manifest of a command. */
export const mergedManifestPath = (outDir: string, command: ShardedCommand): string =>
  join(outDir, `${command}-manifest.json`);

/** The size and SHA-256 of each output file (paths relative to `outDir`), read as streams. */
export async function describeOutputs(outDir: string, paths: readonly string[]): Promise<OutputFile[]> {
  const described: OutputFile[] = [];
  for (const path of [...paths].sort()) {
    const hash = createHash('sha256');
    await pipeline(createReadStream(join(outDir, path)), hash);
    described.push({ path, bytes: (await stat(join(outDir, path))).size, sha256: hash.digest('hex') });
  }
  return described;
}

/** Writes a shard's manifest atomically into `OUT/shards/`; returns its path. */
export async function writeShardManifest(outDir: string, manifest: ShardManifest): Promise<string> {
  await mkdir(shardsFolder(outDir), { recursive: true });
  const path = join(shardsFolder(outDir), `${manifest.command}-${shardName(manifest.shard)}.json`);
  await writeFileAtomically(path, `${JSON.stringify(manifest, null, 2)}\n`);
  return path;
}

/**
 * Reads every shard manifest in `OUT/shards/`.
 *
 * @throws InputError naming the folder when it holds none, or the file that does not parse.
 */
export async function readShardManifests(
  outDir: string,
): Promise<Array<{ file: string; manifest: ShardManifest }>> {
  const folder = shardsFolder(outDir);
  const names = await readdir(folder).catch(() => [] as string[]);
  const files = names
    .filter((name) => /^[a-z]+-\d+-of-\d+\.json$/.test(name))
    .sort()
    .map((name) => join(folder, name));
  if (files.length === 0)
    throw new InputError(folder, 'holds no shard manifests: run prepare, predict or eval with --shard first');
  return Promise.all(
    files.map(async (file) => {
      try {
        return { file, manifest: JSON.parse(await readFile(file, 'utf8')) as ShardManifest };
      } catch (error) {
        throw new InputError(file, `not a shard manifest (${(error as Error).message})`, { cause: error });
      }
    }),
  );
}

/**
 * Checks that the manifests are the whole of one job and puts them together: one command, one shard count,
 * the same settings, every shard once, no image in two shards, no file written by two, every output
 * still on disk at its recorded size (a shard rerun since its manifest was written would show here), and
 * the parts of each split raster covering its rows once.
 *
 * @throws InputError naming the manifest (or output file) at fault and what is wrong.
 */
export async function mergeShardManifests(
  outDir: string,
  read: ReadonlyArray<{ file: string; manifest: ShardManifest }>,
): Promise<MergedManifest> {
  const [first] = read;
  if (!first) throw new InputError(shardsFolder(outDir), 'holds no shard manifests');
  const { command, settings } = first.manifest;
  const count = first.manifest.shard.count;
  const byIndex = new Map<number, string>();
  for (const { file, manifest } of read) {
    if (manifest.command !== command)
      throw new InputError(
        file,
        `is a ${manifest.command} shard beside ${command} shards (${first.file}): merge one command's shards at a time`,
      );
    if (manifest.shard.count !== count)
      throw new InputError(
        file,
        `is shard ${manifest.shard.index}/${manifest.shard.count}, but ${first.file} is one of ${count}: remove the manifests of the older job`,
      );
    if (!isDeepStrictEqual(manifest.settings, settings))
      throw new InputError(
        file,
        `was run with other settings than ${first.file}: ${JSON.stringify(manifest.settings)} against ${JSON.stringify(settings)}`,
      );
    const twin = byIndex.get(manifest.shard.index);
    if (twin) throw new InputError(file, `is shard ${manifest.shard.index} of ${count}, as ${twin} is`);
    byIndex.set(manifest.shard.index, file);
  }
  const missing = Array.from({ length: count }, (_, index) => index).filter((index) => !byIndex.has(index));
  if (missing.length)
    throw new InputError(
      shardsFolder(outDir),
      `lacks shard${missing.length === 1 ? '' : 's'} ${missing.join(', ')} of ${count} (0-based): run ${missing.length === 1 ? 'it' : 'them'} before merging`,
    );
  const ordered = [...read].sort((a, b) => a.manifest.shard.index - b.manifest.shard.index);
  const takenBy = new Map<string, string>();
  const writtenBy = new Map<string, string>();
  for (const { file, manifest } of ordered) {
    for (const input of manifest.inputs) {
      if (takenBy.has(input))
        throw new InputError(file, `takes ${input}, which ${takenBy.get(input)} took too`);
      takenBy.set(input, file);
    }
    for (const output of manifest.outputs) {
      if (writtenBy.has(output.path))
        throw new InputError(file, `wrote ${output.path}, which ${writtenBy.get(output.path)} wrote too`);
      writtenBy.set(output.path, file);
      const bytes = await stat(join(outDir, output.path)).then(
        (s) => s.size,
        () => undefined,
      );
      if (bytes !== output.bytes)
        throw new InputError(
          join(outDir, output.path),
          bytes === undefined
            ? `is missing (written by ${file}): rerun that shard`
            : `has ${bytes} bytes, ${file} says ${output.bytes}: rerun that shard`,
        );
    }
  }
  const assemblies = rowAssemblies(shardsFolder(outDir), ordered);
  for (const { input } of assemblies) {
    if (takenBy.has(input))
      throw new InputError(takenBy.get(input)!, `takes ${input} whole, which other shards split by rows`);
  }
  return {
    command,
    shards: count,
    settings,
    inputs: [...takenBy.keys(), ...assemblies.map(({ input }) => input)].sort(),
    assemblies,
    outputs: ordered
      .flatMap(({ manifest }) => manifest.outputs)
      .sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0)),
    results: ordered.map(({ manifest }) => manifest.result),
  };
}

/**
 * The parts of each split raster, grouped by raster and in row order.
 *
 * @throws InputError naming the manifest whose part disagrees with another's about its raster or overlaps
 * it, or `folder` when rows of a raster are in no part.
 */
function rowAssemblies(
  folder: string,
  ordered: ReadonlyArray<{ file: string; manifest: ShardManifest }>,
): RowAssembly[] {
  const byInput = new Map<
    string,
    { raster: Omit<RowAssembly, 'input' | 'parts'>; parts: Array<RowPart & { file: string }> }
  >();
  for (const { file, manifest } of ordered) {
    for (const part of manifest.parts ?? []) {
      const { input, path: _, start: __, end: ___, ...raster } = part;
      const group = byInput.get(input) ?? { raster, parts: [] };
      byInput.set(input, group);
      if (!isDeepStrictEqual(raster, group.raster))
        throw new InputError(
          file,
          `describes ${input} as ${JSON.stringify(raster)}, ${group.parts[0]!.file} as ${JSON.stringify(group.raster)}`,
        );
      group.parts.push({ ...part, file });
    }
  }
  const assemblies = [...byInput].map(([input, { raster, parts }]) => {
    parts.sort((a, b) => a.start - b.start);
    let next = 0;
    for (const { file, start, end } of parts) {
      if (start < next)
        throw new InputError(
          file,
          `predicted rows ${start} to ${end} of ${input}, which another shard predicted too`,
        );
      if (start > next)
        throw new InputError(folder, `no shard predicted rows ${next} to ${start} of ${input}`);
      next = end;
    }
    if (next !== raster.height)
      throw new InputError(folder, `no shard predicted rows ${next} to ${raster.height} of ${input}`);
    return { input, ...raster, parts: parts.map(({ path, start, end }) => ({ path, start, end })) };
  });
  return assemblies.sort((a, b) => (a.input < b.input ? -1 : a.input > b.input ? 1 : 0));
}

/** Writes the merged manifest (without the per-shard results, which `merge` adds up) to `OUT/<command>-manifest.json`; returns its path. */
export async function writeMergedManifest(
  outDir: string,
  merged: MergedManifest,
  result: unknown,
): Promise<string> {
  const { command, shards, settings, inputs, outputs, assemblies } = merged;
  const path = mergedManifestPath(outDir, command);
  // Only predict splits rasters: the other commands' manifests keep their fields.
  const split = assemblies.length > 0 ? { assemblies } : {};
  await writeFileAtomically(
    path,
    `${JSON.stringify({ command, shards, settings, inputs, outputs, ...split, result }, null, 2)}\n`,
  );
  return path;
}
