export * from './confusionMatrix.js';
