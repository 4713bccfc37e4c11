import { readdir, stat, statfs } from 'node:fs/promises';
import { join } from 'node:path';
import { OtaError } from './reasons.js';

/**
 * Disk space for a release (reason `no-space`, contract 7.4: the data directory cannot hold it).
 *
 * Before a download starts, the filesystem of the data directory must have room for everything the
 * release will write there: the chunks of the partial download (`size`), the stored copy in the
 * OTA store (`size`), the compiled cache entry (counted as `size` again: jco's output is of the same
 * order as the component) and the envelope, plus `margin` bytes of headroom so that the telemetry
 * outbox and the state files are not starved by an update. Chunks already on disk from an
 * interrupted download of the same release count as written.
 *
 * The check is a forecast; the truth is the write. ENOSPC/EDQUOT during a chunk write, the
 * verification build or staging also end the release with `no-space` (see updater.ts).
 */

export const DEFAULT_SPACE_MARGIN_BYTES = 1024 * 1024;

export const isNoSpace = (err: unknown): boolean => {
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  return code === 'ENOSPC' || code === 'EDQUOT';
};

/** Bytes an unprivileged writer may still use on the filesystem holding `dir`; undefined if the platform does not say. */
export async function freeBytes(dir: string): Promise<number | undefined> {
  try {
    const s = await statfs(dir);
    return Number(s.bavail) * Number(s.bsize);
  } catch {
    return undefined;
  }
}

async function bytesIn(dir: string): Promise<number> {
  let n = 0;
  for (const name of await readdir(dir).catch(() => [] as string[])) n += await stat(join(dir, name)).then((s) => (s.isFile() ? s.size : 0), () => 0);
  return n;
}

export interface SpaceCheck {
  dataDir: string;
  /** Where this release's partial chunks are (already-written bytes count as spent). */
  partialDir: string;
  size: number;
  envelopeBytes: number;
  margin?: number;
}

/** Throws OtaError('no-space') when the data directory cannot hold the release. */
export async function checkSpace(c: SpaceCheck): Promise<void> {
  const free = await freeBytes(c.dataDir);
  if (free === undefined) return;
  const margin = c.margin ?? DEFAULT_SPACE_MARGIN_BYTES;
  const needed = Math.max(0, 3 * c.size - (await bytesIn(c.partialDir))) + c.envelopeBytes + margin;
  if (free < needed) {
    throw new OtaError('no-space', `the data directory ${c.dataDir} has ${free} bytes free; a release of ${c.size} bytes needs ${needed} (download, stored copy, compiled cache, ${margin} bytes headroom); free space on that filesystem and send the release again`);
  }
}

/** The OtaError for a write that hit a full disk. */
export const noSpaceError = (what: string, err: unknown): OtaError =>
  new OtaError('no-space', `${what}: ${(err as NodeJS.ErrnoException).code} (${(err as Error).message.split('\n')[0]}); free space on the data directory's filesystem and send the release again`);
