import * as tf from '@tensorflow/tfjs';
import { ADAM_UPDATE, ADAM_UPDATE_PACKED } from '../backend/fusedKernels.js';

/** A moment as the stock optimizer keeps it. */
interface Moment {
  originalName: string;
  variable: tf.Variable;
}

/** The stock optimizer's fields used here: private in its typings, plain properties at run time (tfjs-core 4.22). */
interface AdamState {
  beta1: number;
  beta2: number;
  epsilon: number;
  learningRate: number;
  accBeta1: tf.Variable;
  accBeta2: tf.Variable;
  accumulatedFirstMoment: Moment[];
  accumulatedSecondMoment: Moment[];
}

/** A variable's two moments in one tensor, with the names and shape the stock optimizer gives each. */
interface PackedMoments {
  names: [string, string];
  shape: number[];
  moments: tf.Variable;
}

/**
 * tf.train.adam with each variable's step as one kernel where the backend has ADAM_UPDATE (wasm), or every
 * variable's step as one where it has ADAM_UPDATE_PACKED (webgpu, a few variables a GPU program): the same
 * float32 operations in the same order as the stock optimizer's thirteen kernels a variable, so the same
 * weights, in one pass over them. Moments, names and saved weights are the stock optimizer's; on webgpu a
 * variable's two moments live in one tensor while it trains and are split into the stock moments whenever
 * they are saved. On other backends it is the stock optimizer.
 *
 * @example
 * ```ts
 * const optimizer = new Adam(1e-3, 0.9, 0.999, 1e-7);
 * ```
 */
export class Adam extends tf.AdamOptimizer {
  /**
   * beta1^t and beta2^t as the stock optimizer's accBeta variables hold them, mirrored here: a GPU backend
   * cannot read them synchronously, and reading them each step would wait for the GPU. Null until read.
   */
  private accumulatedBetas: [number, number] | null = null;
  /**
   * On webgpu, each variable's moments as one tensor [2 * size], first moments then second, in the order of
   * the stock optimizer's moment lists (which are empty meanwhile).
   */
  private packed: PackedMoments[] = [];

  /** Restores the stock optimizer's state, then reads the beta powers it recomputed. */
  override async setWeights(weightValues: Parameters<tf.AdamOptimizer['setWeights']>[0]): Promise<void> {
    this.disposePacked();
    await super.setWeights(weightValues);
    const state = this as unknown as AdamState;
    const [first, second] = await Promise.all([state.accBeta1.data(), state.accBeta2.data()]);
    this.accumulatedBetas = [first[0]!, second[0]!];
  }

  /** The stock optimizer's weights: packed moments are split into its moment lists first. */
  override async getWeights(): ReturnType<tf.AdamOptimizer['getWeights']> {
    this.unpack();
    return super.getWeights();
  }

  override dispose(): void {
    this.disposePacked();
    super.dispose();
  }

  override applyGradients(variableGradients: Parameters<tf.AdamOptimizer['applyGradients']>[0]): void {
    const backend = tf.getBackend();
    const packed = tf.getKernel(ADAM_UPDATE_PACKED, backend) !== undefined;
    if (!packed && !tf.getKernel(ADAM_UPDATE, backend)) {
      super.applyGradients(variableGradients);
      return;
    }
    const state = this as unknown as AdamState;
    const names = Array.isArray(variableGradients)
      ? variableGradients.map((v) => v.name)
      : Object.keys(variableGradients);
    if (packed) this.pack(names);
    else this.unpack();
    tf.tidy(() => {
      // A new optimizer's accBeta variables hold beta1 and beta2 in float32.
      const betas = this.accumulatedBetas ?? [Math.fround(state.beta1), Math.fround(state.beta2)];
      // The bias corrections as the stock optimizer forms them: 1 - accBeta in float32.
      const [firstCorrection, secondCorrection] = betas.map((acc) => Math.fround(1 - acc));
      const attrs = {
        beta1: state.beta1,
        beta2: state.beta2,
        epsilon: state.epsilon,
        learningRate: state.learningRate,
        firstCorrection,
        secondCorrection,
      };
      const gradientOf = (name: string, i: number) =>
        Array.isArray(variableGradients) ? variableGradients[i]!.tensor : variableGradients[name];
      // Every variable's step in one kernel: a GPU backend updates several in one program.
      if (packed) {
        const updated = names.flatMap((name, i) => {
          const gradient = gradientOf(name, i);
          return gradient == null
            ? []
            : [{ value: tf.engine().registeredVariables[name]!, gradient, moments: this.packed[i]!.moments }];
        });
        const inputs = Object.fromEntries(
          updated.flatMap(({ value, gradient, moments }, k) => [
            [`value${k}`, value],
            [`gradient${k}`, gradient],
            [`moments${k}`, moments],
          ]),
        );
        const outputs = updated.length
          ? (tf.engine().runKernel(ADAM_UPDATE_PACKED, inputs, attrs) as tf.Tensor[])
          : [];
        updated.forEach(({ value, moments }, k) => {
          moments.assign(outputs[2 * k + 1]!);
          value.assign(outputs[2 * k]!);
        });
      } else
        names.forEach((name, i) => {
          const value = tf.engine().registeredVariables[name]!;
          const gradient = gradientOf(name, i);
          state.accumulatedFirstMoment[i] ??= {
            originalName: `${name}/m`,
            variable: tf.tidy(() => tf.zerosLike(value).variable(false)),
          };
          state.accumulatedSecondMoment[i] ??= {
            originalName: `${name}/v`,
            variable: tf.tidy(() => tf.zerosLike(value).variable(false)),
          };
          if (gradient == null) return;
          const firstMoment = state.accumulatedFirstMoment[i]!.variable;
          const secondMoment = state.accumulatedSecondMoment[i]!.variable;
          const [newValue, newFirst, newSecond] = tf
            .engine()
            .runKernel(ADAM_UPDATE, { value, gradient, firstMoment, secondMoment }, attrs) as tf.Tensor[];
          firstMoment.assign(newFirst!);
          secondMoment.assign(newSecond!);
          value.assign(newValue!);
        });
      state.accBeta1.assign(tf.mul(state.accBeta1, state.beta1));
      state.accBeta2.assign(tf.mul(state.accBeta2, state.beta2));
      // The same float32 products (a product of two float32 values is exact in a double, so fround rounds once).
      this.accumulatedBetas = [
        Math.fround(betas[0] * Math.fround(state.beta1)),
        Math.fround(betas[1] * Math.fround(state.beta2)),
      ];
    });
    this.incrementIterations();
  }

  /**
   * Moves the stock moment lists (a new optimizer's are empty, a restored one's full) into packed moments,
   * and gives every variable of `names` without moments zero ones.
   */
  private pack(names: string[]): void {
    const state = this as unknown as AdamState;
    state.accumulatedFirstMoment.forEach((first, i) => {
      const second = state.accumulatedSecondMoment[i]!;
      const moments = tf.tidy(() =>
        tf.concat([first.variable.flatten(), second.variable.flatten()]).variable(false),
      );
      this.packed[i] = {
        names: [first.originalName, second.originalName],
        shape: first.variable.shape,
        moments,
      };
      tf.dispose([first.variable, second.variable]);
    });
    state.accumulatedFirstMoment = [];
    state.accumulatedSecondMoment = [];
    names.forEach((name, i) => {
      if (this.packed[i]) return;
      const { shape, size } = tf.engine().registeredVariables[name]!;
      this.packed[i] = {
        names: [`${name}/m`, `${name}/v`],
        shape,
        moments: tf.tidy(() => tf.zeros([2 * size]).variable(false)),
      };
    });
  }

  /** Splits packed moments back into the stock moment lists, each moment shaped as its variable. */
  private unpack(): void {
    if (this.packed.length === 0) return;
    const state = this as unknown as AdamState;
    const moment = ({ names, shape, moments }: PackedMoments, half: 0 | 1): Moment => {
      const size = moments.size / 2;
      return {
        originalName: names[half],
        variable: tf.tidy(() =>
          moments
            .slice(half * size, size)
            .reshape(shape)
            .variable(false),
        ),
      };
    };
    state.accumulatedFirstMoment = this.packed.map((p) => moment(p, 0));
    state.accumulatedSecondMoment = this.packed.map((p) => moment(p, 1));
    this.disposePacked();
  }

  private disposePacked(): void {
    tf.dispose(this.packed.map((p) => p.moments));
    this.packed = [];
  }
}
