import * as tf from '@tensorflow/tfjs';
import { InputError } from '../errors.js';
import { fileModelHandler } from './fileModelIO.js';

/** What {@link loadBackboneWeights} did. */
export interface WeightTransferReport {
  /** The path or URL the weights came from. */
  source: string;
  /** Layers of the model whose weights were replaced. */
  copied: string[];
  /** Layers with weights in the source that the model does not have (e.g. Keras' `predictions` classifier). */
  unused: string[];
}

/** Options of {@link loadBackboneWeights}. */
export interface LoadBackboneWeightsOptions {
  /** Which of the model's layers may receive weights. [layerFilter=every layer whose name the source has] */
  layerFilter?: (layerName: string) => boolean;
}

const shapeText = (shape: readonly (number | null)[]) => `[${shape.join(', ')}]`;

/**
 * Copies weights, layer by layer name, from a saved TF.js Layers model into `model`: typically Keras'
 * `ResNet50(weights='imagenet')` converted with tensorflowjs_converter into a DeepLabV3+ model, whose backbone
 * layers carry the same names (see docs/RESNET_WEIGHTS.md). Nothing is fetched until this is called.
 * Every shape is checked before anything is copied, so a mismatch leaves the model unchanged.
 *
 * @example
 * ```ts
 * const model = buildDeepLabV3Plus({ backbone: 50 });
 * const report = await loadBackboneWeights(model, 'models/resnet50-imagenet/model.json');
 * console.log(`${report.copied.length} layers from ImageNet`);
 * ```
 * @param model - the model to fill.
 * @param source - a local path (model.json or its folder), a `file://` URL, or an http(s) URL of a model.json.
 * @param options - see {@link LoadBackboneWeightsOptions}.
 * @throws InputError naming the source when it cannot be read, when a layer's weights have other shapes
 *   (naming the layer and both shapes), or when no layer name matches.
 */
export async function loadBackboneWeights(
  model: tf.LayersModel,
  source: string,
  options: LoadBackboneWeightsOptions = {},
): Promise<WeightTransferReport> {
  if (typeof source !== 'string' || source.length === 0) {
    throw new TypeError(
      `loadBackboneWeights: source must be a path or URL of a TF.js model.json, got ${JSON.stringify(source)}`,
    );
  }
  const { layerFilter = () => true } = options;
  const isHttp = /^https?:\/\//i.test(source);
  let weightsModel: tf.LayersModel;
  try {
    weightsModel = await tf.loadLayersModel(isHttp ? source : fileModelHandler(source));
  } catch (error) {
    if (error instanceof InputError) throw error;
    throw new InputError(source, `cannot load a TF.js Layers model: ${(error as Error).message}`, {
      cause: error,
    });
  }
  try {
    const targets = new Map(model.layers.map((layer) => [layer.name, layer]));
    const transfers: Array<[tf.layers.Layer, tf.Tensor[]]> = [];
    const unused: string[] = [];
    for (const layer of weightsModel.layers) {
      const values = layer.getWeights();
      if (values.length === 0) continue;
      const target = targets.get(layer.name);
      if (target === undefined || !layerFilter(layer.name)) {
        unused.push(layer.name);
        continue;
      }
      const expected = target.weights;
      if (expected.length !== values.length) {
        throw new InputError(
          source,
          `layer '${layer.name}' has ${values.length} weights, the model's has ${expected.length}`,
        );
      }
      expected.forEach((variable, i) => {
        const given = values[i]!.shape;
        if (shapeText(given) !== shapeText(variable.shape)) {
          throw new InputError(
            source,
            `layer '${layer.name}': weight '${variable.originalName}' has shape ${shapeText(given)} in the source, the model expects ${shapeText(variable.shape)}`,
          );
        }
      });
      transfers.push([target, values]);
    }
    if (transfers.length === 0) {
      throw new InputError(
        source,
        `no layer with weights has a name in common with model '${model.name}' (expected Keras ResNet50 names such as conv1_conv)`,
      );
    }
    for (const [target, values] of transfers) target.setWeights(values);
    return { source, copied: transfers.map(([target]) => target.name), unused };
  } finally {
    weightsModel.dispose();
  }
}
