import { mkdir, readFile, rename } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs';
import { InputError } from '../errors.js';
import { writeDurable } from '../io/durableWrite.js';
// Saved DeepLabV3+ models hold segstream's own layers: loading one needs them registered, whoever calls.
import './layers/atrousConv2d.js';
import './layers/resizeBilinearLike.js';

/** The model.json a path or `file://` URL names: the path itself, or `model.json` inside it when it is a folder name. */
export function modelJsonPath(pathOrFileUrl: string): string {
  const path = pathOrFileUrl.startsWith('file://') ? fileURLToPath(pathOrFileUrl) : resolve(pathOrFileUrl);
  return path.endsWith('.json') ? path : join(path, 'model.json');
}

/** Writes one file of a saved model: the topology JSON or the weights. */
export type ModelFileWriter = (path: string, data: string | Uint8Array) => Promise<void>;

/** Options of {@link fileModelHandler}. */
export interface FileModelHandlerOptions {
  /**
   * Writes each file when saving; the default writes it under a temporary name, syncs it to disk and renames
   * it, so a reader never sees half a file. Checkpoints pass their own (their folder is renamed as a whole).
   */
  write?: ModelFileWriter;
}

const writeReplacing: ModelFileWriter = async (path, data) => {
  await writeDurable(`${path}.tmp`, data);
  await rename(`${path}.tmp`, path);
};

/**
 * A saved model's two files: the topology with its weight manifest (`<name>.json`) and the weights in one
 * shard beside it (`<name>.weights.bin`). Keys in a fixed order, so equal models give equal bytes.
 */
function modelFiles(
  artifacts: tf.io.ModelArtifacts,
  weightsFile: string,
): { json: string; weights: Uint8Array } {
  const json: tf.io.ModelJSON = {
    modelTopology: artifacts.modelTopology as object,
    weightsManifest: [{ paths: [weightsFile], weights: artifacts.weightSpecs ?? [] }],
    format: artifacts.format ?? 'layers-model',
    generatedBy: artifacts.generatedBy ?? `TensorFlow.js tfjs-layers v${tf.version.tfjs}`,
    convertedBy: artifacts.convertedBy ?? null,
    ...(artifacts.trainingConfig ? { trainingConfig: artifacts.trainingConfig } : {}),
    ...(artifacts.userDefinedMetadata ? { userDefinedMetadata: artifacts.userDefinedMetadata } : {}),
  };
  const weights =
    artifacts.weightData === undefined
      ? new Uint8Array(0)
      : new Uint8Array(tf.io.concatenateArrayBuffers(artifacts.weightData));
  return { json: JSON.stringify(json), weights };
}

/**
 * A TF.js IO handler that reads and writes a Layers model in TF.js format on the local file system: what
 * tfjs-node's `file://` handler does, for the pure-JS and wasm backends. The one way segstream saves and
 * loads models: checkpoints (and so a run's final model) and backbone weights go through it. Saving writes
 * `<name>.weights.bin` first, then `<name>.json` (`model.json` and `model.weights.bin` for a folder).
 *
 * @example
 * ```ts
 * await model.save(fileModelHandler('checkpoints/unet'));
 * const again = await tf.loadLayersModel(fileModelHandler('checkpoints/unet/model.json'));
 * ```
 * @param pathOrFileUrl - a `model.json` path, a folder, or a `file://` URL of either.
 */
export function fileModelHandler(
  pathOrFileUrl: string,
  options: FileModelHandlerOptions = {},
): tf.io.IOHandler {
  const jsonPath = modelJsonPath(pathOrFileUrl);
  const folder = dirname(jsonPath);
  const write = options.write ?? writeReplacing;
  return {
    async load(): Promise<tf.io.ModelArtifacts> {
      let modelJson: tf.io.ModelJSON;
      try {
        modelJson = JSON.parse(await readFile(jsonPath, 'utf8')) as tf.io.ModelJSON;
      } catch (error) {
        throw new InputError(jsonPath, `cannot read a TF.js model.json: ${(error as Error).message}`, {
          cause: error,
        });
      }
      if (modelJson.modelTopology === undefined)
        throw new InputError(jsonPath, 'not a TF.js model.json: no modelTopology');
      return tf.io.getModelArtifactsForJSON(modelJson, async (manifest) => {
        const shards: ArrayBuffer[] = [];
        for (const path of manifest.flatMap((group) => group.paths)) {
          try {
            const bytes = await readFile(join(folder, path));
            shards.push(
              bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer,
            );
          } catch (error) {
            throw new InputError(
              join(folder, path),
              `cannot read weight shard listed in ${jsonPath}: ${(error as Error).message}`,
              { cause: error },
            );
          }
        }
        return [tf.io.getWeightSpecs(manifest), tf.io.concatenateArrayBuffers(shards)];
      });
    },

    async save(artifacts: tf.io.ModelArtifacts): Promise<tf.io.SaveResult> {
      const weightsFile = `${basename(jsonPath, '.json')}.weights.bin`;
      const { json, weights } = modelFiles(artifacts, weightsFile);
      await mkdir(folder, { recursive: true });
      await write(join(folder, weightsFile), weights);
      await write(jsonPath, json);
      return { modelArtifactsInfo: tf.io.getModelArtifactsInfoForJSON(artifacts) };
    },
  };
}
