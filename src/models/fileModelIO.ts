import * as tf from '@tensorflow/tfjs';
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { InputError } from '../errors.js';

/** The model.json a path or `file://` URL names: the path itself, or `model.json` inside it when it is a folder name. */
export function modelJsonPath(pathOrFileUrl: string): string {
  const path = pathOrFileUrl.startsWith('file://') ? fileURLToPath(pathOrFileUrl) : resolve(pathOrFileUrl);
  return path.endsWith('.json') ? path : join(path, 'model.json');
}

/**
 * A TF.js IO handler that reads and writes a Layers model in TF.js format (`model.json` plus weight shards)
 * on the local file system: what tfjs-node's `file://` handler does, for the pure-JS and wasm backends.
 * Saving writes `model.json` and `weights.bin` under temporary names and renames them, so a reader never sees
 * a half-written model.
 *
 * @example
 * ```ts
 * await model.save(fileModelHandler('checkpoints/unet'));
 * const again = await tf.loadLayersModel(fileModelHandler('checkpoints/unet/model.json'));
 * ```
 * @param pathOrFileUrl - a `model.json` path, a folder, or a `file://` URL of either.
 */
export function fileModelHandler(pathOrFileUrl: string): tf.io.IOHandler {
  const jsonPath = modelJsonPath(pathOrFileUrl);
  const folder = dirname(jsonPath);
  return {
    async load(): Promise<tf.io.ModelArtifacts> {
      let modelJson: tf.io.ModelJSON;
      try {
        modelJson = JSON.parse(await readFile(jsonPath, 'utf8')) as tf.io.ModelJSON;
      } catch (error) {
        throw new InputError(jsonPath, `cannot read a TF.js model.json: ${(error as Error).message}`, { cause: error });
      }
      if (modelJson.modelTopology === undefined) throw new InputError(jsonPath, 'not a TF.js model.json: no modelTopology');
      return tf.io.getModelArtifactsForJSON(modelJson, async (manifest) => {
        const shards: ArrayBuffer[] = [];
        for (const path of manifest.flatMap((group) => group.paths)) {
          try {
            const bytes = await readFile(join(folder, path));
            shards.push(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer);
          } catch (error) {
            throw new InputError(join(folder, path), `cannot read weight shard listed in ${jsonPath}: ${(error as Error).message}`, { cause: error });
          }
        }
        return [tf.io.getWeightSpecs(manifest), tf.io.concatenateArrayBuffers(shards)];
      });
    },

    async save(artifacts: tf.io.ModelArtifacts): Promise<tf.io.SaveResult> {
      const weights = artifacts.weightData === undefined ? new ArrayBuffer(0) : tf.io.concatenateArrayBuffers(artifacts.weightData);
      const modelJson: tf.io.ModelJSON = {
        modelTopology: artifacts.modelTopology!,
        format: artifacts.format,
        generatedBy: artifacts.generatedBy,
        convertedBy: artifacts.convertedBy,
        weightsManifest: [{ paths: ['weights.bin'], weights: artifacts.weightSpecs ?? [] }],
        ...(artifacts.trainingConfig && { trainingConfig: artifacts.trainingConfig }),
        ...(artifacts.userDefinedMetadata && { userDefinedMetadata: artifacts.userDefinedMetadata }),
      };
      await mkdir(folder, { recursive: true });
      const weightsPath = join(folder, 'weights.bin');
      await writeFile(`${weightsPath}.tmp`, new Uint8Array(weights));
      await writeFile(`${jsonPath}.tmp`, JSON.stringify(modelJson));
      await rename(`${weightsPath}.tmp`, weightsPath);
      await rename(`${jsonPath}.tmp`, jsonPath);
      return { modelArtifactsInfo: tf.io.getModelArtifactsInfoForJSON(artifacts) };
    },
  };
}
