export * from './segmentationLosses.js';
export * from './buildLoss.js';
