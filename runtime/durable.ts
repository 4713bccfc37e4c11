import { randomBytes } from 'node:crypto';
import { mkdir, open, rename, rm, stat } from 'node:fs/promises';
import { dirname, join } from 'node:path';

/**
 * Power-loss-safe file primitives, the one place files are written durably (OTA store and chunks,
 * the engine cache, keys and broker credentials). A file is replaced by writing a temporary sibling, fsyncing it,
 * renaming it over the target (atomic on POSIX) and fsyncing the directory so the rename itself is
 * on disk. At any instant the target holds the old bytes or the new ones, never a mix.
 *
 * `step` is a test hook called after each primitive; a test throws from it to simulate the power
 * going off right there, then reopens the store and checks it sees the old or the new state.
 */
export type StepHook = (step: string) => void;

export const TMP_MARK = '.tmp-';

export async function fsyncDir(dir: string): Promise<void> {
  const fh = await open(dir, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

/** mkdir -p, fsyncing each parent whose entry it created so the new directories survive power loss. */
export async function ensureDir(dir: string, step?: StepHook): Promise<void> {
  const missing: string[] = [];
  let d = dir;
  for (;;) {
    try {
      await stat(d);
      break;
    } catch {
      missing.push(d);
      const up = dirname(d);
      if (up === d) break;
      d = up;
    }
  }
  if (missing.length === 0) return;
  await mkdir(dir, { recursive: true });
  for (const m of missing.reverse()) await fsyncDir(dirname(m));
  step?.(`mkdir ${dir}`);
}

export interface AtomicWriteOptions {
  /** File mode, set at creation (a private key must never exist world-readable, even briefly). Default 0o644. */
  mode?: number;
  step?: StepHook;
  /** Skip the directory fsync (for data that is cheap to fetch again, e.g. download chunks). */
  noDirSync?: boolean;
}

export interface SyncedWriteOptions {
  /** File mode, set at creation. Default 0o644. */
  mode?: number;
  step?: StepHook;
  /** The name the step hook reports (the final path when `path` is a temporary one). Default `path`. */
  as?: string;
}

/**
 * Writes a file and fsyncs it, without a rename: for a file inside a temporary directory that is
 * itself renamed into place (runtime/cache.ts), and the first half of atomicWrite.
 */
export async function writeSynced(path: string, data: Uint8Array | string, opts: SyncedWriteOptions = {}): Promise<void> {
  const name = opts.as ?? path;
  const fh = await open(path, 'w', opts.mode ?? 0o644);
  try {
    await fh.writeFile(data);
    opts.step?.(`write ${name}`);
    await fh.sync();
    opts.step?.(`fsync ${name}`);
  } finally {
    await fh.close();
  }
}

export async function atomicWrite(path: string, data: Uint8Array | string, opts: AtomicWriteOptions = {}): Promise<void> {
  const dir = dirname(path);
  await ensureDir(dir, opts.step);
  const tmp = join(dir, `.${path.slice(dir.length + 1)}${TMP_MARK}${process.pid}-${randomBytes(4).toString('hex')}`);
  try {
    await writeSynced(tmp, data, { mode: opts.mode, step: opts.step, as: path });
    await rename(tmp, path);
  } catch (err) {
    // A write the filesystem refused (a full disk) leaves no temporary file taking the space.
    // A simulated power cut (the step hook) leaves it, as a real one would.
    if (typeof (err as NodeJS.ErrnoException).code === 'string') await rm(tmp, { force: true }).catch(() => undefined);
    throw err;
  }
  opts.step?.(`rename ${path}`);
  if (!opts.noDirSync) {
    await fsyncDir(dir);
    opts.step?.(`fsync-dir ${path}`);
  }
}

/** Removes a tree; the directory entry removal is fsynced so it does not come back. */
export async function removeTree(path: string, step?: StepHook): Promise<void> {
  await rm(path, { recursive: true, force: true });
  await fsyncDir(dirname(path)).catch(() => undefined);
  step?.(`rm ${path}`);
}
