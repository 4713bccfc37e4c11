import { join } from 'node:path';
import type { Logger } from 'pino';
import { FileStore } from '../../drivers/storage/store.js';

/**
 * The gateway's component storage (contract 7.1): one file per component under
 * `<data-dir>/storage/`, writes coalesced to one durable flush per `storage.flush-ms`.
 */
export function createStorage(dataDir: string, flushMs: number, log: Logger): FileStore {
  return new FileStore({
    dir: join(dataDir, 'storage'),
    flushMs,
    onCorrupt: (component, keptAs, problem) =>
      log.error({ component, source: 'storage' }, `storage bucket file did not parse (${problem}); kept it as ${keptAs} and started the bucket empty; restore it from that file if it can be repaired`),
  });
}
