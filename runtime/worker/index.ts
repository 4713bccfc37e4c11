export { WorkerInstance, DEFAULT_START_TIMEOUT_MS, type WorkerInstanceOptions } from './worker-instance.js';
export { DEFAULT_CHANNEL_BYTES } from './protocol.js';
