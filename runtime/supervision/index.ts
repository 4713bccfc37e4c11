export * from './types.js';
export * from './mailbox.js';
export * from './actor.js';
export * from './events.js';
export * from './supervisor.js';
export * from './builder.js';
