import * as tf from '@tensorflow/tfjs';

/**
 * `tf.image.resizeBilinear` with its own gradient: TF.js 4.22's cpu `ResizeBilinearGrad` kernel computes the
 * right values in the input's layout but labels them [B, W, H, C], so training through a resize of a
 * non-square map fails on the cpu backend. Running the same kernel and restoring the input's shape fixes that
 * and changes nothing where the kernel is right.
 */
function resizeBilinear(images: tf.Tensor4D, size: [number, number], alignCorners: boolean): tf.Tensor4D {
  const resize = tf.customGrad((x, save) => {
    (save as tf.GradSaveFunc)([x as tf.Tensor4D]);
    return {
      value: tf.image.resizeBilinear(x as tf.Tensor4D, size, alignCorners),
      gradFunc: (dy, [saved]) => {
        const attrs = { alignCorners, halfPixelCenters: false };
        const dx = tf
          .engine()
          .runKernel('ResizeBilinearGrad', { images: saved!, dy: dy as tf.Tensor }, attrs) as tf.Tensor;
        return tf.tidy(() => dx.reshape(saved!.shape));
      },
    };
  });
  return resize(images) as tf.Tensor4D;
}

/** Arguments of {@link ResizeBilinearLike}. */
export interface ResizeBilinearLikeArgs {
  /** Align the corner pixels of input and output, as TensorFlow's DeepLab does. [alignCorners=true] */
  alignCorners?: boolean;
  name?: string;
}

/**
 * Resizes its first input bilinearly to the height and width of its second input (whose values are not
 * used). Sizes are taken at run time, so a fully convolutional model can upsample to its input size whatever
 * that is; a 1x1 input is spread over the whole map (DeepLab's image pooling). Registered for serialization.
 *
 * @example
 * ```ts
 * const upsampled = new ResizeBilinearLike({ name: 'decoder_upsample' }).apply([aspp, lowLevel]) as tf.SymbolicTensor;
 * ```
 */
export class ResizeBilinearLike extends tf.layers.Layer {
  static readonly className = 'ResizeBilinearLike';
  readonly alignCorners: boolean;

  constructor(args: ResizeBilinearLikeArgs = {}) {
    super(args);
    this.alignCorners = args.alignCorners ?? true;
  }

  override computeOutputShape(inputShape: tf.Shape | tf.Shape[]): tf.Shape {
    const [source, like] = inputShape as tf.Shape[];
    if (source === undefined || like === undefined)
      throw new Error(`ResizeBilinearLike '${this.name}': expects two inputs [x, like]`);
    return [source[0] ?? null, like[1] ?? null, like[2] ?? null, source[3] ?? null];
  }

  override call(inputs: tf.Tensor | tf.Tensor[]): tf.Tensor {
    const [source, like] = inputs as tf.Tensor4D[];
    return resizeBilinear(source!, [like!.shape[1], like!.shape[2]], this.alignCorners);
  }

  override getConfig(): tf.serialization.ConfigDict {
    return { ...super.getConfig(), alignCorners: this.alignCorners };
  }
}

tf.serialization.registerClass(ResizeBilinearLike);
