import * as tf from '@tensorflow/tfjs';

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
    if (source === undefined || like === undefined) throw new Error(`ResizeBilinearLike '${this.name}': expects two inputs [x, like]`);
    return [source[0] ?? null, like[1] ?? null, like[2] ?? null, source[3] ?? null];
  }

  override call(inputs: tf.Tensor | tf.Tensor[]): tf.Tensor {
    const [source, like] = inputs as tf.Tensor4D[];
    return tf.image.resizeBilinear(source!, [like!.shape[1], like!.shape[2]], this.alignCorners);
  }

  override getConfig(): tf.serialization.ConfigDict {
    return { ...super.getConfig(), alignCorners: this.alignCorners };
  }
}

tf.serialization.registerClass(ResizeBilinearLike);
