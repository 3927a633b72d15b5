import type * as tf from '@tensorflow/tfjs';
import { WIDEN_BYTES } from '../../fusedKernels.js';
import { runFlatProgram } from '../programs.js';

/** Byte `index % 4` of word `index / 4`, as i32. */
const BYTE = 'let value = (packed[index / 4] >> u32(8 * (index % 4))) & 255;';

/** WIDEN_BYTES on webgpu: one program, a thread a value. */
function widenBytes({ inputs, backend, attrs }: Parameters<tf.KernelFunc>[0]): tf.TensorInfo {
  const { packed, factors } = inputs as { packed: tf.TensorInfo; factors?: tf.TensorInfo };
  const { shape, dtype } = attrs as unknown as { shape: number[]; dtype: 'float32' | 'int32' };
  if (dtype === 'int32')
    return runFlatProgram(backend, 'widenBytesInt', { packed }, shape, `${BYTE}\n        return value;`, {
      dtype,
    });
  return runFlatProgram(
    backend,
    'widenBytesNormalized',
    { packed, factors: factors! },
    shape,
    `${BYTE}
        let c = index % uniforms.channels;
        return f32(value) * factors[c] + factors[uniforms.channels + c];`,
    { uniforms: [{ name: 'channels', value: shape.at(-1)!, type: 'int32' }] },
  );
}

export const widenBytesConfig: tf.KernelConfig = {
  kernelName: WIDEN_BYTES,
  backendName: 'webgpu',
  kernelFunc: widenBytes as unknown as tf.KernelFunc,
};
