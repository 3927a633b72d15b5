import * as tf from '@tensorflow/tfjs';
import { CONFUSION_COUNTS } from '../../fusedKernels.js';
import { columnSums, sumOfTerms } from '../programs.js';

/**
 * CONFUSION_COUNTS on webgpu: int32 column sums over the pixels, one column a (label, prediction) pair and
 * one for pixels out of range. Each thread compares its block's pixels with its own pair, so the work grows
 * with the square of the classes; no atomics (TF.js's webgpu Bincount adds floats with compare-and-swap
 * loops, which contend on so few bins).
 */
function confusionCounts({ inputs, backend, attrs }: Parameters<tf.KernelFunc>[0]): tf.TensorInfo {
  const { labels, predictions } = inputs as { labels: tf.TensorInfo; predictions: tf.TensorInfo };
  const { numClasses, ignoreValue } = attrs as { numClasses: number; ignoreValue: number };
  const pairs = numClasses * numClasses;
  return columnSums(
    backend,
    'confusionCounts',
    { labels, predictions },
    { rows: tf.util.sizeFromShape(labels.shape), channels: 1, columns: pairs + 1 },
    sumOfTerms(
      `let label = labels[row];
        if (label == uniforms.ignoreValue) {
          return 0;
        }
        let predicted = predictions[row];
        let classes = uniforms.classes;
        let inRange = label >= 0 && label < classes && predicted >= 0 && predicted < classes;
        return select(0, 1, select(column == classes * classes, column == label * classes + predicted, inRange));`,
      'int32',
    ),
    {
      dtype: 'int32',
      uniforms: [
        { name: 'classes', value: numClasses, type: 'int32' },
        { name: 'ignoreValue', value: ignoreValue, type: 'int32' },
      ],
    },
  );
}

export const confusionCountsConfig: tf.KernelConfig = {
  kernelName: CONFUSION_COUNTS,
  backendName: 'webgpu',
  kernelFunc: confusionCounts as tf.KernelFunc,
};
