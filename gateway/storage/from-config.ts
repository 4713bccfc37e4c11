import { join } from 'node:path';
import type { Logger } from 'pino';
import { FileStore } from '../../drivers/storage/store.js';
import type { Recovery } from '../ota/store.js';

/**
 * The gateway's component storage (contract 7.1): one file per component under
 * `<data-dir>/storage/`, writes coalesced to one durable flush per `storage.flush-ms`. A full disk is
 * logged once when it starts and once when writes resume (issue 12), never per retry.
 */
export function createStorage(dataDir: string, flushMs: number, log: Logger): FileStore {
  const dir = join(dataDir, 'storage');
  return new FileStore({
    dir,
    flushMs,
    onCorrupt: (component, keptAs, problem) =>
      log.error({ component, source: 'storage' }, `storage bucket file did not parse (${problem}); kept it as ${keptAs} and started the bucket empty; restore it from that file if it can be repaired`),
    onWriteFailed: (problem, full) =>
      log.error(
        { source: 'storage', dir, full },
        full
          ? `storage: the data directory's filesystem is full (${problem}); components' storage sets are refused as limited and what was set is kept in memory until space is freed; free space on it`
          : `storage: writing buckets to ${dir} failed (${problem}); retrying every second; check the data directory`,
      ),
    onWriteResumed: (afterMs) => log.warn({ source: 'storage', dir, afterMs }, `storage: buckets are written again (after ${Math.round(afterMs / 1000)} s of failed writes)`),
  });
}

/**
 * After the OTA store reverted activations a restart interrupted: each reverted version's storage
 * set-aside copy (taken at its swap) is put back, so the bucket is as it stood at the swap; leftovers
 * of earlier swaps go. Logged per component.
 */
export function settleStorage(storage: FileStore, recovered: readonly Recovery[], log: Logger): void {
  const reverted = new Map(recovered.map((r) => [r.component, r.reverted.version]));
  for (const s of storage.settleAside(reverted)) {
    if (s.restored) log.warn({ component: s.component, source: 'storage' }, `storage: restored the bucket of ${s.component} as it stood when ${s.forVersion} was swapped in (that version was reverted)`);
  }
}
