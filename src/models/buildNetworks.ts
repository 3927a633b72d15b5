import type * as tf from '@tensorflow/tfjs';
import { SeededRandom, withMathRandomFrom } from '../util/seededRandom.js';
import { buildDeepLabV3Plus, type DeepLabV3PlusOptions } from './deeplabv3plus.js';
import type { OutputActivation } from './modelInfo.js';
import type { InputSize } from './optionChecks.js';
import {
  buildPatchGANDiscriminator,
  buildPix2PixGenerator,
  type PatchGANOptions,
  type Pix2PixGeneratorOptions,
} from './pix2pix.js';
import { buildUNet, type UNetOptions } from './unet.js';

/** The architectures a run can train, as the CLI's `--arch` names them. */
export type ArchitectureName = 'unet' | 'pix2pix' | 'deeplabv3plus';
export const ARCHITECTURE_NAMES: readonly ArchitectureName[] = ['unet', 'pix2pix', 'deeplabv3plus'];

/** Options of {@link buildNetworks}: the shared ones, and per-architecture ones that override them. */
export interface NetworksOptions {
  /** [numClasses=5] */
  numClasses?: number;
  /** [inputChannels=3] */
  inputChannels?: number;
  /** [outputActivation='softmax'] */
  outputActivation?: OutputActivation;
  /** [inputSize=null] */
  inputSize?: InputSize;
  /** Seeds the initial weights: the same seed builds the same weights. Unseeded when absent. */
  seed?: number;
  unet?: UNetOptions;
  deeplabv3plus?: DeepLabV3PlusOptions;
  pix2pixGenerator?: Pix2PixGeneratorOptions;
  pix2pixDiscriminator?: PatchGANOptions;
}

/** The networks of one architecture. */
export interface Networks {
  architecture: ArchitectureName;
  /** The segmentation model: image -> logits. For Pix2Pix, its generator. */
  model: tf.LayersModel;
  /** Pix2Pix's PatchGAN discriminator over (image, class map); absent for the other architectures. */
  discriminator?: tf.LayersModel;
}

/**
 * Builds the networks of an architecture by name, with the class count, input channels and size shared by
 * all: what a run configured with `--arch` needs.
 *
 * @example
 * ```ts
 * const { model, discriminator } = buildNetworks('pix2pix', { numClasses: 5, seed: 7, pix2pixGenerator: { depth: 8 } });
 * ```
 * @param architecture - one of {@link ARCHITECTURE_NAMES}.
 * @param options - see {@link NetworksOptions}.
 * @throws RangeError naming the architecture when it is unknown, or an option that is out of range.
 */
export function buildNetworks(architecture: ArchitectureName, options: NetworksOptions = {}): Networks {
  const { seed, ...rest } = options;
  return seed === undefined
    ? buildArchitecture(architecture, rest)
    : withMathRandomFrom(new SeededRandom(seed), () => buildArchitecture(architecture, rest));
}

function buildArchitecture(architecture: ArchitectureName, options: Omit<NetworksOptions, 'seed'>): Networks {
  // Options left undefined fall back to each builder's default.
  const { unet, deeplabv3plus, pix2pixGenerator, pix2pixDiscriminator, ...common } = options;
  switch (architecture) {
    case 'unet':
      return { architecture, model: buildUNet({ ...common, ...unet }) };
    case 'deeplabv3plus':
      return { architecture, model: buildDeepLabV3Plus({ ...common, ...deeplabv3plus }) };
    case 'pix2pix': {
      const model = buildPix2PixGenerator({ ...common, ...pix2pixGenerator });
      const { numClasses, inputChannels, inputSize } = common;
      return {
        architecture,
        model,
        discriminator: buildPatchGANDiscriminator({
          numClasses,
          inputChannels,
          inputSize,
          ...pix2pixDiscriminator,
        }),
      };
    }
    default:
      throw new RangeError(
        `buildNetworks: architecture must be one of ${ARCHITECTURE_NAMES.join(', ')}, got ${String(architecture)}`,
      );
  }
}
