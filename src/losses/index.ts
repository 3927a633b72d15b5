export * from './buildLoss.js';
export * from './segmentationLosses.js';
