import { parentPort } from 'node:worker_threads';
import { GatewayError } from '../errors.js';
import { loadJco } from '../jco.js';
import { buildArtifacts, type BuildOptions } from './artifacts.js';

/** The build worker's side: one build at a time, results posted back with their buffers transferred. */
export type BuildRequest = { type: 'build'; id: number; bytes: Uint8Array; opts: BuildOptions } | { type: 'warm'; id: number };
export type BuildReply =
  | { type: 'ready' }
  | { type: 'warmed'; id: number }
  | { type: 'built'; id: number; result: Awaited<ReturnType<typeof buildArtifacts>> }
  | { type: 'error'; id: number; code: string; message: string }
  | { type: 'failed'; message: string };

const port = parentPort!;
let queue = Promise.resolve();
port.on('message', (msg: BuildRequest) => {
  queue = queue.then(async () => {
    if (msg.type === 'warm') {
      await loadJco();
      port.postMessage({ type: 'warmed', id: msg.id } satisfies BuildReply);
      return;
    }
    try {
      const result = await buildArtifacts(msg.bytes, msg.opts);
      port.postMessage({ type: 'built', id: msg.id, result } satisfies BuildReply, result.cores.map((c) => c.bytes.buffer as ArrayBuffer));
    } catch (err) {
      const code = err instanceof GatewayError ? err.code : 'INVALID_COMPONENT';
      port.postMessage({ type: 'error', id: msg.id, code, message: err instanceof Error ? err.message : String(err) } satisfies BuildReply);
    }
  });
});
port.postMessage({ type: 'ready' } satisfies BuildReply);
