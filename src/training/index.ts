export * from './events.js';
export * from './checkpoint.js';
export * from './optimizers.js';
export * from './schedules.js';
export * from './trainer.js';
