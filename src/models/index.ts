// The model builders, their layers and weight loading.

export * from './backboneWeights.js';
export * from './buildNetworks.js';
export * from './deeplabv3plus.js';
export * from './fileModelIO.js';
export * from './flops.js';
export * from './layers/atrousConv2d.js';
export * from './layers/batchNormalization.js';
export * from './layers/resizeBilinearLike.js';
export * from './modelInfo.js';
export type { InputSize } from './optionChecks.js';
export * from './pix2pix.js';
export * from './resnet.js';
export * from './unet.js';
