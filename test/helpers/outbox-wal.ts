import { statSync } from 'node:fs';
import { join } from 'node:path';
import { waitFor } from './wait.js';

/** Bytes of the gateway's outbox WAL (`<data-dir>/telemetry.db-wal`; 0 before there is one). */
export function walBytes(dataDir: string): number {
  try {
    return statSync(join(dataDir, 'telemetry.db-wal')).size;
  } catch {
    return 0;
  }
}

/**
 * Waits until the running gateway has committed a backlog group (16 KiB held while the broker is
 * down, docs/telemetry.md): its WAL grew by more than 8 KiB since `from` (the first commit after
 * the broker went away stores a few samples, a page or three; a group is a dozen pages). The
 * outbox holds its file exclusively, so the WAL's size is what a test can see; a fixed sleep
 * assumed the component's full 100 Hz, which a loaded machine does not give it.
 */
export function backlogCommitted(dataDir: string, from: number, what: string): Promise<void> {
  return waitFor(() => walBytes(dataDir) >= from + 8192, what, 60_000);
}
