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
 * Runs a stride-1 convolution `convolve` (given as its valid, undilated form) with dilation `rate`, as
 * TensorFlow's `with_space_to_batch` does: spaceToBatchND, the valid convolution, batchToSpaceND.
 */
function withSpaceToBatch(
  x: tf.Tensor4D,
  kernelSize: [number, number],
  rate: [number, number],
  padding: AtrousPadding,
  convolve: (batched: tf.Tensor4D) => tf.Tensor4D,
): tf.Tensor4D {
  return tf.tidy(() => {
    const plan = spaceToBatchPlan([x.shape[1], x.shape[2]], kernelSize, rate, padding);
    return tf.batchToSpaceND(convolve(tf.spaceToBatchND(x, rate, plan.paddings)), rate, plan.crops);
  });
}

/** How {@link atrousConv2d} computes: TensorFlow's space-to-batch form, or one product per tap over the output pixels it reaches in x. */
export type AtrousMethod = 'spaceToBatch' | 'taps';

/**
 * A kernel tap (row r, column c) and the part of the output whose pixels it reads inside x: output rows
 * [rows[0], rows[1]) and columns [cols[0], cols[1]) read x from row rows[0] + top and column cols[0] + left.
 */
interface Tap {
  r: number;
  c: number;
  top: number;
  left: number;
  rows: [number, number];
  cols: [number, number];
}

/**
 * The output size of a dilated stride-1 convolution and the taps whose windows overlap x, each with the part
 * of the output it reaches: on a feature map small against the dilation (DeepLab's ASPP at rates 6 to 18 on
 * 16x16 maps) the outer taps read padding for most or all output pixels, and leaving those out is exact.
 */
function tapsReachingInput(
  inputSize: [number, number],
  kernelSize: [number, number],
  rate: [number, number],
  padding: AtrousPadding,
): { outSize: [number, number]; taps: Tap[] } {
  const axis = (i: 0 | 1) => {
    const total = padding === 'same' ? rate[i] * (kernelSize[i] - 1) : 0;
    const out = inputSize[i] + total - rate[i] * (kernelSize[i] - 1);
    const starts = Array.from({ length: kernelSize[i] }, (_, k) => k * rate[i] - Math.floor(total / 2));
    // Output positions p with 0 <= p + start < input size.
    const reached = (start: number): [number, number] => [
      Math.max(0, -start),
      Math.min(out, inputSize[i] - start),
    ];
    return { out, starts, reached };
  };
  const [rows, cols] = [axis(0), axis(1)];
  const taps: Tap[] = [];
  rows.starts.forEach((top, r) =>
    cols.starts.forEach((left, c) => {
      const [reachedRows, reachedCols] = [rows.reached(top), cols.reached(left)];
      if (reachedRows[1] > reachedRows[0] && reachedCols[1] > reachedCols[0])
        taps.push({ r, c, top, left, rows: reachedRows, cols: reachedCols });
    }),
  );
  return { outSize: [rows.out, cols.out], taps };
}

/**
 * The cheaper way to compute a dilated convolution, by multiply-adds per channel pair: space-to-batch
 * convolves the padded map with every tap; the taps form convolves, per tap, the output pixels it reads
 * inside x. The taps form adds a crop of x per tap and a sum of the taps' partial outputs, so it is chosen
 * only where it saves a fifth or more.
 */
export function preferredAtrousMethod(
  inputSize: [number, number],
  kernelSize: [number, number],
  rate: [number, number],
  padding: AtrousPadding,
): AtrousMethod {
  const plan = spaceToBatchPlan(inputSize, kernelSize, rate, padding);
  const batchedOutput = (i: 0 | 1) =>
    inputSize[i] + plan.paddings[i][0] + plan.paddings[i][1] - rate[i] * (kernelSize[i] - 1);
  const spaceToBatchCost = batchedOutput(0) * batchedOutput(1) * kernelSize[0] * kernelSize[1];
  const { taps } = tapsReachingInput(inputSize, kernelSize, rate, padding);
  const tapsCost = taps.reduce(
    (sum, tap) => sum + (tap.rows[1] - tap.rows[0]) * (tap.cols[1] - tap.cols[0]),
    0,
  );
  return tapsCost <= 0.8 * spaceToBatchCost ? 'taps' : 'spaceToBatch';
}

/**
 * The dilated convolution as a sum over the taps that reach x of 1x1 convolutions: each tap's kernel row
 * times the crop of x it reads, placed (zero-padded) where its output pixels are. Differentiable on every
 * backend (slice, conv2d, pad, addN).
 */
function atrousConv2dByTaps(
  x: tf.Tensor4D,
  kernel: tf.Tensor4D,
  rate: [number, number],
  padding: AtrousPadding,
): tf.Tensor4D {
  return tf.tidy(() => {
    const [kh, kw] = kernel.shape;
    const {
      outSize: [outRows, outCols],
      taps,
    } = tapsReachingInput([x.shape[1], x.shape[2]], [kh, kw], rate, padding);
    const partials = taps.map(({ r, c, top, left, rows, cols }) => {
      const crop = tf.slice(
        x,
        [0, rows[0] + top, cols[0] + left, 0],
        [-1, rows[1] - rows[0], cols[1] - cols[0], -1],
      );
      const product = tf.conv2d(crop, tf.slice(kernel, [r, c, 0, 0], [1, 1, -1, -1]), 1, 'valid');
      const paddings: Array<[number, number]> = [
        [0, 0],
        [rows[0], outRows - rows[1]],
        [cols[0], outCols - cols[1]],
        [0, 0],
      ];
      return paddings.some(([before, after]) => before > 0 || after > 0)
        ? tf.pad(product, paddings)
        : product;
    });
    return (partials.length === 1 ? partials[0]! : tf.addN(partials)) as tf.Tensor4D;
  });
}

/**
 * A stride-1 convolution with dilation `rate` that has gradients on every backend (TF.js's `tf.conv2d` with
 * `dilations` has none). By default it takes whichever of two exact forms does less arithmetic
 * ({@link preferredAtrousMethod}): spaceToBatchND -> valid conv2d -> batchToSpaceND, as TensorFlow's
 * `atrous_conv2d` does, or, where the map is small against the dilation, one 1x1 convolution per tap over
 * the crop of x it reads.
 *
 * @example
 * ```ts
 * const y = atrousConv2d(x, kernel, [6, 6], 'same'); // equals tf.conv2d(x, kernel, 1, 'same', 'NHWC', 6)
 * ```
 * @param x - input [B, H, W, Cin].
 * @param kernel - filter [kh, kw, Cin, Cout].
 * @param rate - dilation [rows, cols], each >= 1.
 * @param padding - 'same' keeps H and W; 'valid' shrinks them by `rate * (k - 1)`.
 * @param method - force one form (tests compare them).
 * @returns [B, H', W', Cout].
 */
export function atrousConv2d(
  x: tf.Tensor4D,
  kernel: tf.Tensor4D,
  rate: [number, number],
  padding: AtrousPadding,
  method?: AtrousMethod,
): tf.Tensor4D {
  if (rate[0] === 1 && rate[1] === 1) return tf.conv2d(x, kernel, 1, padding);
  const kernelSize: [number, number] = [kernel.shape[0], kernel.shape[1]];
  if ((method ?? preferredAtrousMethod([x.shape[1], x.shape[2]], kernelSize, rate, padding)) === 'taps')
    return atrousConv2dByTaps(x, kernel, rate, padding);
  return withSpaceToBatch(x, kernelSize, rate, padding, (b) => tf.conv2d(b, kernel, 1, 'valid'));
}

/**
 * The depthwise counterpart of {@link atrousConv2d}: equals `tf.depthwiseConv2d` with `dilations`, and has
 * gradients (those of an undilated depthwise convolution).
 *
 * @param kernel - filter [kh, kw, Cin, depthMultiplier].
 * @returns [B, H', W', Cin * depthMultiplier].
 */
export function atrousDepthwiseConv2d(
  x: tf.Tensor4D,
  kernel: tf.Tensor4D,
  rate: [number, number],
  padding: AtrousPadding,
): tf.Tensor4D {
  if (rate[0] === 1 && rate[1] === 1) return tf.depthwiseConv2d(x, kernel, 1, padding);
  return withSpaceToBatch(x, [kernel.shape[0], kernel.shape[1]], rate, padding, (b) =>
    tf.depthwiseConv2d(b, kernel, 1, 'valid'),
  );
}

/** Arguments shared by {@link AtrousConv2D} and {@link AtrousDepthwiseConv2D}. */
export interface AtrousLayerArgs {
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
  /** Layer name; weights are named `<name>/<kernel name>` and `<name>/bias`, as in Keras. */
  name?: string;
  trainable?: boolean;
}

/** Arguments of {@link AtrousConv2D}. */
export interface AtrousConv2DArgs extends AtrousLayerArgs {
  /** Output channels. */
  filters: number;
}

/** Arguments of {@link AtrousDepthwiseConv2D}. */
export interface AtrousDepthwiseConv2DArgs extends AtrousLayerArgs {
  /** Output channels per input channel. [depthMultiplier=1] */
  depthMultiplier?: number;
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
  if (entry === undefined) throw new Error(`layer '${layerName}': unknown initializer class '${className}'`);
  const [cls, fromConfig] = entry;
  return fromConfig(cls, config) as Initializer;
}

function pair(where: string, name: string, value: number | [number, number]): [number, number] {
  const values: [number, number] = typeof value === 'number' ? [value, value] : value;
  if (!Array.isArray(values) || values.length !== 2 || !values.every((v) => Number.isInteger(v) && v >= 1)) {
    throw new RangeError(
      `${where}: ${name} must be a positive integer or two of them, got ${JSON.stringify(value)}`,
    );
  }
  return values;
}

/** What the two atrous layers share: argument checks, weights, output shape, bias, config. */
abstract class AtrousLayer extends tf.layers.Layer {
  readonly kernelSize: [number, number];
  readonly dilationRate: [number, number];
  readonly padding: AtrousPadding;
  readonly useBias: boolean;
  readonly kernelInitializer: Initializer;
  readonly biasInitializer: Initializer;
  private kernel: tf.LayerVariable | null = null;
  private bias: tf.LayerVariable | null = null;

  constructor(args: AtrousLayerArgs) {
    super(args);
    const where = this.where();
    this.kernelSize = pair(where, 'kernelSize', args.kernelSize);
    this.dilationRate = pair(where, 'dilationRate', args.dilationRate ?? 1);
    this.padding = args.padding ?? 'same';
    if (this.padding !== 'same' && this.padding !== 'valid') {
      throw new RangeError(`${where}: padding must be 'same' or 'valid', got ${String(this.padding)}`);
    }
    this.useBias = args.useBias ?? true;
    this.kernelInitializer = deserializeInitializer(
      args.kernelInitializer ?? tf.initializers.glorotUniform({}),
      this.name,
    );
    this.biasInitializer = deserializeInitializer(args.biasInitializer ?? tf.initializers.zeros(), this.name);
  }

  protected where(): string {
    return `${this.getClassName()} '${this.name}'`;
  }

  /** Keras' name of the kernel weight. */
  protected abstract readonly kernelName: string;
  /** Shape of the kernel for `channels` input channels. */
  protected abstract kernelShape(channels: number): number[];
  /** Output channels for `channels` input channels (null when unknown). */
  protected abstract outputChannels(channels: number | null): number | null;
  protected abstract convolve(x: tf.Tensor4D, kernel: tf.Tensor4D): tf.Tensor4D;

  override build(inputShape: tf.Shape | tf.Shape[]): void {
    const shape = (Array.isArray(inputShape[0]) ? inputShape[0] : inputShape) as tf.Shape;
    const channels = shape[3];
    if (channels == null)
      throw new Error(`${this.where()}: the channel dimension of the input must be known`);
    const kernelShape = this.kernelShape(channels);
    this.kernel = this.addWeight(this.kernelName, kernelShape, 'float32', this.kernelInitializer);
    if (this.useBias)
      this.bias = this.addWeight('bias', [this.outputChannels(channels)!], 'float32', this.biasInitializer);
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
    return [shape[0] ?? null, size(0), size(1), this.outputChannels(shape[3] ?? null)];
  }

  override call(inputs: tf.Tensor | tf.Tensor[]): tf.Tensor {
    return tf.tidy(() => {
      const x = (Array.isArray(inputs) ? inputs[0] : inputs) as tf.Tensor4D;
      const y = this.convolve(x, this.kernel!.read() as tf.Tensor4D);
      return this.bias ? tf.add(y, this.bias.read()) : y;
    });
  }

  override getConfig(): tf.serialization.ConfigDict {
    return {
      ...super.getConfig(),
      kernelSize: this.kernelSize,
      dilationRate: this.dilationRate,
      padding: this.padding,
      useBias: this.useBias,
      kernelInitializer: serializeInitializer(
        this.kernelInitializer,
      ) as unknown as tf.serialization.ConfigDict,
      biasInitializer: serializeInitializer(this.biasInitializer) as unknown as tf.serialization.ConfigDict,
    };
  }
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
export class AtrousConv2D extends AtrousLayer {
  static readonly className = 'AtrousConv2D';
  readonly filters: number;
  protected readonly kernelName = 'kernel';

  constructor(args: AtrousConv2DArgs) {
    super(args);
    if (!Number.isInteger(args.filters) || args.filters < 1) {
      throw new RangeError(
        `${this.where()}: filters must be a positive integer, got ${String(args.filters)}`,
      );
    }
    this.filters = args.filters;
  }

  protected kernelShape(channels: number): number[] {
    return [...this.kernelSize, channels, this.filters];
  }

  protected outputChannels(): number {
    return this.filters;
  }

  protected convolve(x: tf.Tensor4D, kernel: tf.Tensor4D): tf.Tensor4D {
    return atrousConv2d(x, kernel, this.dilationRate, this.padding);
  }

  override getConfig(): tf.serialization.ConfigDict {
    return { ...super.getConfig(), filters: this.filters };
  }
}

/**
 * A trainable atrous depthwise convolution layer (the first half of DeepLab's atrous separable convolution),
 * stride 1, channels last; see {@link atrousDepthwiseConv2d}. Weights are named as a Keras
 * `DepthwiseConv2D`'s (`depthwise_kernel`, `bias`). Registered for serialization.
 *
 * @example
 * ```ts
 * const depthwise = new AtrousDepthwiseConv2D({ kernelSize: 3, dilationRate: 12, useBias: false, name: 'aspp2_depthwise' });
 * ```
 */
export class AtrousDepthwiseConv2D extends AtrousLayer {
  static readonly className = 'AtrousDepthwiseConv2D';
  readonly depthMultiplier: number;
  protected readonly kernelName = 'depthwise_kernel';

  constructor(args: AtrousDepthwiseConv2DArgs) {
    super(args);
    this.depthMultiplier = args.depthMultiplier ?? 1;
    if (!Number.isInteger(this.depthMultiplier) || this.depthMultiplier < 1) {
      throw new RangeError(
        `${this.where()}: depthMultiplier must be a positive integer, got ${String(this.depthMultiplier)}`,
      );
    }
  }

  protected kernelShape(channels: number): number[] {
    return [...this.kernelSize, channels, this.depthMultiplier];
  }

  protected outputChannels(channels: number | null): number | null {
    return channels === null ? null : channels * this.depthMultiplier;
  }

  protected convolve(x: tf.Tensor4D, kernel: tf.Tensor4D): tf.Tensor4D {
    return atrousDepthwiseConv2d(x, kernel, this.dilationRate, this.padding);
  }

  override getConfig(): tf.serialization.ConfigDict {
    return { ...super.getConfig(), depthMultiplier: this.depthMultiplier };
  }
}

tf.serialization.registerClass(AtrousConv2D);
tf.serialization.registerClass(AtrousDepthwiseConv2D);
