import * as tf from '@tensorflow/tfjs';

/** The webgpu backend's upload of a tensor's values to its GPU buffer (public on WebGPUBackend, tfjs-backend-webgpu 4.22). */
interface DeviceUpload {
  uploadToGPU?(dataId: object): void;
}

/**
 * Copies the tensors' values to the device now, where the backend keeps new tensors on the CPU until a
 * program first reads them (webgpu): a batch made while a step runs is then on the GPU before the next step
 * needs it, instead of being copied while that step is encoded. Elsewhere it does nothing.
 */
export function uploadToDevice(tensors: readonly tf.Tensor[]): void {
  const backend = tf.backend() as unknown as DeviceUpload;
  if (typeof backend.uploadToGPU !== 'function') return;
  for (const tensor of tensors) backend.uploadToGPU(tensor.dataId);
}
