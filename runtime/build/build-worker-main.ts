import { GatewayError } from '../errors.js';
import { loadJco } from '../jco.js';
import { buildArtifacts, type BuildOptions } from './artifacts.js';

/**
 * The build process's side (see build-worker.ts): one build at a time, requests and results over
 * the IPC channel. It ends when the channel closes: the gateway closed it, or the gateway died
 * (even by SIGKILL), so a build process never outlives its gateway.
 */
export type BuildRequest = { type: 'build'; id: number; bytes: Uint8Array; opts: BuildOptions } | { type: 'warm'; id: number };
export type BuildReply =
  | { type: 'ready' }
  | { type: 'warmed'; id: number }
  | { type: 'built'; id: number; result: Awaited<ReturnType<typeof buildArtifacts>> }
  | { type: 'error'; id: number; code: string; message: string };

const send = (reply: BuildReply) => process.send!(reply);
let queue = Promise.resolve();
process.on('message', (msg: BuildRequest) => {
  queue = queue.then(async () => {
    if (msg.type === 'warm') {
      await loadJco();
      send({ type: 'warmed', id: msg.id });
      return;
    }
    try {
      send({ type: 'built', id: msg.id, result: await buildArtifacts(msg.bytes, msg.opts) });
    } catch (err) {
      const code = err instanceof GatewayError ? err.code : 'INVALID_COMPONENT';
      send({ type: 'error', id: msg.id, code, message: err instanceof Error ? err.message : String(err) });
    }
  });
});
process.on('disconnect', () => process.exit(0));
send({ type: 'ready' });
