import * as tf from '@tensorflow/tfjs';
import { ADAM_UPDATE } from '../backend/fusedKernels.js';

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

/**
 * tf.train.adam with each variable's step as one kernel where the backend has ADAM_UPDATE (wasm, webgpu): the
 * same float32 operations in the same order as the stock optimizer's thirteen kernels a variable, so the same
 * weights, in one pass over them. Moments, names and saved weights are the stock optimizer's; on other
 * backends it is the stock optimizer.
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

  /** Restores the stock optimizer's state, then reads the beta powers it recomputed. */
  override async setWeights(weightValues: Parameters<tf.AdamOptimizer['setWeights']>[0]): Promise<void> {
    await super.setWeights(weightValues);
    const state = this as unknown as AdamState;
    const [first, second] = await Promise.all([state.accBeta1.data(), state.accBeta2.data()]);
    this.accumulatedBetas = [first[0]!, second[0]!];
  }

  override applyGradients(variableGradients: Parameters<tf.AdamOptimizer['applyGradients']>[0]): void {
    if (!tf.getKernel(ADAM_UPDATE, tf.getBackend())) {
      super.applyGradients(variableGradients);
      return;
    }
    const state = this as unknown as AdamState;
    const names = Array.isArray(variableGradients)
      ? variableGradients.map((v) => v.name)
      : Object.keys(variableGradients);
    tf.tidy(() => {
      // A new optimizer's accBeta variables hold beta1 and beta2 in float32.
      const betas = this.accumulatedBetas ?? [Math.fround(state.beta1), Math.fround(state.beta2)];
      // The bias corrections as the stock optimizer forms them: 1 - accBeta in float32.
      const [firstCorrection, secondCorrection] = betas.map((acc) => Math.fround(1 - acc));
      names.forEach((name, i) => {
        const value = tf.engine().registeredVariables[name]!;
        state.accumulatedFirstMoment[i] ??= {
          originalName: `${name}/m`,
          variable: tf.tidy(() => tf.zerosLike(value).variable(false)),
        };
        state.accumulatedSecondMoment[i] ??= {
          originalName: `${name}/v`,
          variable: tf.tidy(() => tf.zerosLike(value).variable(false)),
        };
        const gradient = Array.isArray(variableGradients)
          ? variableGradients[i]!.tensor
          : variableGradients[name];
        if (gradient == null) return;
        const firstMoment = state.accumulatedFirstMoment[i]!.variable;
        const secondMoment = state.accumulatedSecondMoment[i]!.variable;
        const attrs = {
          beta1: state.beta1,
          beta2: state.beta2,
          epsilon: state.epsilon,
          learningRate: state.learningRate,
          firstCorrection,
          secondCorrection,
        };
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
}
