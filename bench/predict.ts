// npm run bench:predict: the time to predict one real 1024x1024 xBD image with the sliding-window predictor
// (predictFullImage: 256x256 windows, default overlap 64, so 5 x 5 = 25 windows, 4 per model call), for the
// bench UNet and DeepLabV3+ ResNet-50 OS16 on the selected backend. Untrained weights: the time does not
// depend on them. The UNet is compared with the PyTorch peer's forward speed measured in the same run: the
// peer would need windows / (its forward images/s) seconds for the model calls of one image.
import { availableParallelism } from 'node:os';
import * as tf from '@tensorflow/tfjs';
import { selectBackend } from '../src/backend/selectBackend.js';
import { decodeImage } from '../src/io/decodeImage.js';
import { buildDeepLabV3Plus } from '../src/models/deeplabv3plus.js';
import { buildUNet } from '../src/models/unet.js';
import { predictFullImage } from '../src/predict/slidingWindow.js';
import { BENCH_UNET, machineLine, torchUNetPeer, xbdPairs } from './common.js';

const TILE_SIZE = 256;
const BATCH_SIZE = 4; // predictFullImage's default, and the peer's batch

const backend = await selectBackend();
console.log(machineLine());
console.log(backend.summary);
const pair = (await xbdPairs())[0]!;
const image = await decodeImage(pair.imagePath);
console.log(
  `image: ${pair.id} (${image.width}x${image.height}), windows ${TILE_SIZE}x${TILE_SIZE}, default overlap, batch ${BATCH_SIZE}`,
);

/**
 * Times one full-image prediction, after one untimed model call (kernel setup, first allocations), prints it
 * and disposes the model.
 */
async function timePrediction(
  name: string,
  model: tf.LayersModel,
): Promise<{ seconds: number; windows: number }> {
  tf.tidy(
    () => void (model.predict(tf.zeros([BATCH_SIZE, TILE_SIZE, TILE_SIZE, 3])) as tf.Tensor).dataSync(),
  );
  const started = performance.now();
  const { windows } = await predictFullImage(model, image, { tileSize: TILE_SIZE, batchSize: BATCH_SIZE });
  const seconds = (performance.now() - started) / 1000;
  model.dispose();
  console.log(
    `${name} ${backend.tfBackend}: ${seconds.toFixed(1)} s per ${image.width}x${image.height} image (${windows} windows, ${(windows / seconds).toFixed(2)} windows/s), tensors alive after ${tf.memory().numTensors}`,
  );
  return { seconds, windows };
}

const unet = await timePrediction('unet 16-256 BatchNorm', buildUNet(BENCH_UNET));
await timePrediction(
  'deeplabv3plus resnet50 os16',
  buildDeepLabV3Plus({ backbone: 50, outputStride: 16, numClasses: 5 }),
);

// The peer with as many threads as cores, as the backends use by default.
const threads = availableParallelism();
const peer = torchUNetPeer({ threads, steps: 3, batch: 4, size: 256, device: 'cpu' });
if (typeof peer === 'string') {
  console.log(peer);
} else {
  const peerSeconds = unet.windows / peer.forward;
  console.log(
    `pytorch unet ${threads} thread(s): forward ${peer.forward.toFixed(2)} images/s, so ${unet.windows} windows / ${peer.forward.toFixed(2)} = ${peerSeconds.toFixed(1)} s per image (model calls only)`,
  );
  console.log(
    `unet ${backend.tfBackend} full image: ${unet.seconds.toFixed(1)} s vs pytorch ${peerSeconds.toFixed(1)} s: ratio ${(peerSeconds / unet.seconds).toFixed(2)}`,
  );
}
