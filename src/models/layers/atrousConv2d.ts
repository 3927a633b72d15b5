import * as tf from '@tensorflow/tfjs';

/** A weight initializer (TF.js does not export the class's type). */
export type Initializer = ReturnType<typeof tf.initializers.zeros>;

/** Padding of an atrous convolution, with TensorFlow's meaning. */
export type AtrousPadding = 'same' | 'valid';

/** Paddings and crops that turn a dilated convolution into space-to-batch, valid conv, batch-to-space. */
export interface SpaceToBatchPlan {
  /** `[[top, bottom], [left, right]]` for spaceToBatchND. */
  paddings: [[number, number], [number, number]];
  /** `[[top, bottom], [left, right]]` for batchToSpaceND. */
  crops: [[number, number], [number, number]];
}

/**
 * The paddings and crops TensorFlow's `with_space_to_batch` uses for a dilated stride-1 convolution: the
 * 'same' padding of the dilated kernel (`rate * (k - 1)` in all, the smaller half before), then extra padding
 * at the end so that each padded size is a multiple of the rate, which batch-to-space crops off again.
 */
export function spaceToBatchPlan(
  inputSize: [number, number],
  kernelSize: [number, number],
  rate: [number, number],
  padding: AtrousPadding,
): SpaceToBatchPlan {
  const axis = (i: 0 | 1) => {
    const total = padding === 'same' ? rate[i] * (kernelSize[i] - 1) : 0;
    const start = Math.floor(total / 2);
    const end = total - start;
    const extra = (rate[i] - ((inputSize[i] + total) % rate[i])) % rate[i];
    return { padding: [start, end + extra] as [number, number], crop: [0, extra] as [number, number] };
  };
  const [rows, cols] = [axis(0), axis(1)];
  return { paddings: [rows.padding, cols.padding], crops: [rows.crop, cols.crop] };
}

/**
 * A stride-1 convolution with dilation `rate`, computed as spaceToBatchND -> valid conv2d -> batchToSpaceND,
 * as TensorFlow's `atrous_conv2d` does. Unlike `tf.conv2d` with `dilations`, it has gradients on every
 * backend, because the three ops it is made of have them.
 *
 * @example
 * ```ts
 * const y = atrousConv2d(x, kernel, [6, 6], 'same'); // equals tf.conv2d(x, kernel, 1, 'same', 'NHWC', 6)
 * ```
 * @param x - input [B, H, W, Cin].
 * @param kernel - filter [kh, kw, Cin, Cout].
 * @param rate - dilation [rows, cols], each >= 1.
 * @param padding - 'same' keeps H and W; 'valid' shrinks them by `rate * (k - 1)`.
 * @returns [B, H', W', Cout].
 */
export function atrousConv2d(x: tf.Tensor4D, kernel: tf.Tensor4D, rate: [number, number], padding: AtrousPadding): tf.Tensor4D {
  if (rate[0] === 1 && rate[1] === 1) return tf.conv2d(x, kernel, 1, padding);
  return tf.tidy(() => {
    const plan = spaceToBatchPlan([x.shape[1], x.shape[2]], [kernel.shape[0], kernel.shape[1]], rate, padding);
    const batched = tf.spaceToBatchND(x, rate, plan.paddings);
    const convolved = tf.conv2d(batched, kernel, 1, 'valid');
    return tf.batchToSpaceND(convolved, rate, plan.crops);
  });
}

/** Arguments of {@link AtrousConv2D}. */
export interface AtrousConv2DArgs {
  /** Output channels. */
  filters: number;
  /** Kernel size, square or [rows, cols]. */
  kernelSize: number | [number, number];
  /** Dilation rate, square or [rows, cols]. [dilationRate=1] */
  dilationRate?: number | [number, number];
  /** [padding='same'] */
  padding?: AtrousPadding;
  /** Add a bias per output channel. [useBias=true] */
  useBias?: boolean;
  /** [kernelInitializer=glorotUniform] */
  kernelInitializer?: Initializer;
  /** [biasInitializer=zeros] */
  biasInitializer?: Initializer;
  /** Layer name (weights are named `<name>/kernel` and `<name>/bias`, as a Keras Conv2D's). */
  name?: string;
  trainable?: boolean;
}

/** An initializer as stored in a layer config: the registered class name and its config. */
interface SerializedInitializer {
  className: string;
  config: tf.serialization.ConfigDict;
}

function serializeInitializer(initializer: Initializer): SerializedInitializer {
  return { className: initializer.getClassName(), config: initializer.getConfig() };
}

function deserializeInitializer(value: unknown, layerName: string): Initializer {
  if (value instanceof tf.serialization.Serializable) return value as Initializer;
  const { className, config } = value as SerializedInitializer;
  const entry = tf.serialization.SerializationMap.getMap().classNameMap[className];
  if (entry === undefined) throw new Error(`AtrousConv2D '${layerName}': unknown initializer class '${className}'`);
  const [cls, fromConfig] = entry;
  return fromConfig(cls, config) as Initializer;
}

function pair(where: string, name: string, value: number | [number, number]): [number, number] {
  const values: [number, number] = typeof value === 'number' ? [value, value] : value;
  if (!Array.isArray(values) || values.length !== 2 || !values.every((v) => Number.isInteger(v) && v >= 1)) {
    throw new RangeError(`${where}: ${name} must be a positive integer or two of them, got ${JSON.stringify(value)}`);
  }
  return values;
}

/**
 * A trainable atrous (dilated) 2D convolution layer, stride 1, channels last. Built from spaceToBatchND,
 * conv2d and batchToSpaceND (see {@link atrousConv2d}) because TF.js has no gradient for dilated
 * convolutions. Its weights have the shapes and names of a Keras `Conv2D`, so weights saved from a Conv2D
 * load into it by layer name. Registered for serialization: saved models that contain it load again.
 *
 * @example
 * ```ts
 * const aspp6 = new AtrousConv2D({ filters: 256, kernelSize: 3, dilationRate: 6, name: 'aspp_rate6' });
 * const y = aspp6.apply(x) as tf.SymbolicTensor;
 * ```
 */
export class AtrousConv2D extends tf.layers.Layer {
  static readonly className = 'AtrousConv2D';
  readonly filters: number;
  readonly kernelSize: [number, number];
  readonly dilationRate: [number, number];
  readonly padding: AtrousPadding;
  readonly useBias: boolean;
  readonly kernelInitializer: Initializer;
  readonly biasInitializer: Initializer;
  private kernel: tf.LayerVariable | null = null;
  private bias: tf.LayerVariable | null = null;

  constructor(args: AtrousConv2DArgs) {
    super(args);
    const where = `AtrousConv2D '${this.name}'`;
    if (!Number.isInteger(args.filters) || args.filters < 1) {
      throw new RangeError(`${where}: filters must be a positive integer, got ${String(args.filters)}`);
    }
    this.filters = args.filters;
    this.kernelSize = pair(where, 'kernelSize', args.kernelSize);
    this.dilationRate = pair(where, 'dilationRate', args.dilationRate ?? 1);
    this.padding = args.padding ?? 'same';
    if (this.padding !== 'same' && this.padding !== 'valid') {
      throw new RangeError(`${where}: padding must be 'same' or 'valid', got ${String(this.padding)}`);
    }
    this.useBias = args.useBias ?? true;
    this.kernelInitializer = deserializeInitializer(args.kernelInitializer ?? tf.initializers.glorotUniform({}), this.name);
    this.biasInitializer = deserializeInitializer(args.biasInitializer ?? tf.initializers.zeros(), this.name);
  }

  override build(inputShape: tf.Shape | tf.Shape[]): void {
    const shape = (Array.isArray(inputShape[0]) ? inputShape[0] : inputShape) as tf.Shape;
    const channels = shape[3];
    if (channels == null) throw new Error(`AtrousConv2D '${this.name}': the channel dimension of the input must be known`);
    this.kernel = this.addWeight('kernel', [...this.kernelSize, channels, this.filters], 'float32', this.kernelInitializer);
    if (this.useBias) this.bias = this.addWeight('bias', [this.filters], 'float32', this.biasInitializer);
    this.inputSpec = [{ ndim: 4, axes: { [-1]: channels } }];
    this.built = true;
  }

  override computeOutputShape(inputShape: tf.Shape | tf.Shape[]): tf.Shape {
    const shape = (Array.isArray(inputShape[0]) ? inputShape[0] : inputShape) as tf.Shape;
    const size = (i: 0 | 1) => {
      const n = shape[i + 1];
      if (n == null || this.padding === 'same') return n ?? null;
      return n - this.dilationRate[i] * (this.kernelSize[i] - 1);
    };
    return [shape[0] ?? null, size(0), size(1), this.filters];
  }

  override call(inputs: tf.Tensor | tf.Tensor[]): tf.Tensor {
    return tf.tidy(() => {
      const x = (Array.isArray(inputs) ? inputs[0] : inputs) as tf.Tensor4D;
      const y = atrousConv2d(x, this.kernel!.read() as tf.Tensor4D, this.dilationRate, this.padding);
      return this.bias ? tf.add(y, this.bias.read()) : y;
    });
  }

  override getConfig(): tf.serialization.ConfigDict {
    return {
      ...super.getConfig(),
      filters: this.filters,
      kernelSize: this.kernelSize,
      dilationRate: this.dilationRate,
      padding: this.padding,
      useBias: this.useBias,
      kernelInitializer: serializeInitializer(this.kernelInitializer) as unknown as tf.serialization.ConfigDict,
      biasInitializer: serializeInitializer(this.biasInitializer) as unknown as tf.serialization.ConfigDict,
    };
  }
}

tf.serialization.registerClass(AtrousConv2D);
