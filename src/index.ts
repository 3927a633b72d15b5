// The public entry point: every operator, model builder and pipeline with its types.
export * from './types.js';
export * from './errors.js';
export * from './backend/selectBackend.js';
