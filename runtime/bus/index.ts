export * from './topic.js';
export * from './bus.js';
