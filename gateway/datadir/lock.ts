import { randomBytes } from 'node:crypto';
import { readFileSync, unlinkSync } from 'node:fs';
import { link, open, readdir, readFile, unlink } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { GatewayError } from '../../runtime/errors.js';

/**
 * One gateway per data directory. Two gateways on one data dir (the service plus a manual
 * `airssys start`) would share the telemetry outbox, the OTA store and the MQTT client id: they
 * corrupt each other's seq counters and kick each other off the broker. So `start` takes this lock
 * before it touches anything else, and a second start refuses with one line naming the holder.
 *
 * The lock is the file `<data-dir>/gateway.lock` holding `{pid, start, host, since}`:
 * - It is created complete or not at all: written to a private temporary file, fsynced, then
 *   hard-linked to the lock name (link fails with EEXIST if the name exists, atomically, even on
 *   NFS), so nobody ever reads a half-written lock of a live holder.
 * - Liveness: a lock of this host is stale when its PID is gone (`kill(pid, 0)` → ESRCH), or when
 *   the PID is alive but started at another time than recorded (the kernel's start time from
 *   /proc/<pid>/stat, field 22): a PID reused after a reboot or a SIGKILL does not hold the lock.
 *   A lock that cannot be parsed (a power cut while the first gateway created it, before its
 *   fsync) is stale too. A lock of another host is never judged stale: its PID means nothing here.
 * - A stale lock is taken over (the caller logs it). The takeover itself runs under a short-lived
 *   guard file (`gateway.lock.takeover`, O_EXCL) so two gateways finding the same stale lock at the
 *   same instant cannot both win: the loser sees the winner's live lock and refuses.
 * - Released on a clean stop; also on process exit (an uncaught error), if the file is still ours.
 */

export interface LockOwner {
  pid: number;
  /** Kernel start time of the process (clock ticks since boot, /proc/<pid>/stat field 22); '' where /proc is absent. */
  start: string;
  host: string;
  /** ISO time the lock was taken (for the operator). */
  since: string;
}

export interface Acquired {
  lock: DataDirLock;
  /** The stale lock that was taken over, with why it was stale. */
  tookOver?: { owner: LockOwner | undefined; why: string };
}

export const LOCK_FILE = 'gateway.lock';

/** The kernel start time of `pid`, or undefined when /proc does not say (not Linux, or the process is gone). */
export function processStartTime(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Field 2 (comm) is in parentheses and may contain spaces or ')': fields restart after the last ')'.
    const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return rest[19]; // field 22 overall: fields 3.. are rest[0..]
  } catch {
    return undefined;
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    // EPERM: it exists, it is just someone else's.
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function parseOwner(text: string): LockOwner | undefined {
  try {
    const o = JSON.parse(text) as Partial<LockOwner>;
    if (typeof o.pid === 'number' && Number.isInteger(o.pid) && o.pid > 0 && typeof o.host === 'string' && typeof o.start === 'string') {
      return { pid: o.pid, start: o.start, host: o.host, since: typeof o.since === 'string' ? o.since : '?' };
    }
  } catch {
    /* not JSON: torn */
  }
  return undefined;
}

/** Why `owner` no longer holds the lock, or undefined while it does. */
function staleness(owner: LockOwner | undefined): string | undefined {
  if (!owner) return 'unreadable lock file (torn write)';
  if (owner.host !== hostname()) return undefined;
  if (!alive(owner.pid)) return `pid ${owner.pid} is not running`;
  const now = processStartTime(owner.pid);
  if (owner.start && now !== undefined && now !== owner.start) return `pid ${owner.pid} is now another process (reused)`;
  return undefined;
}

async function readLock(path: string): Promise<{ text: string; owner: LockOwner | undefined } | undefined> {
  try {
    const text = await readFile(path, 'utf8');
    return { text, owner: parseOwner(text) };
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}

/** Creates `path` holding `text`, completely or not at all; false if it exists. */
async function createComplete(path: string, text: string): Promise<boolean> {
  const tmp = `${path}.${process.pid}-${randomBytes(4).toString('hex')}`;
  const fh = await open(tmp, 'wx', 0o644);
  try {
    await fh.writeFile(text);
    await fh.sync();
  } finally {
    await fh.close();
  }
  try {
    await link(tmp, path);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw err;
  } finally {
    await unlink(tmp).catch(() => undefined);
  }
}

/** Temporary lock files of processes killed between writing and linking them. */
async function removeDeadTemps(dataDir: string): Promise<void> {
  for (const name of await readdir(dataDir).catch(() => [] as string[])) {
    const m = /^gateway\.lock(?:\.takeover)?\.(\d+)-[0-9a-f]{8}$/.exec(name);
    if (m && Number(m[1]) !== process.pid && !alive(Number(m[1]))) await unlink(join(dataDir, name)).catch(() => undefined);
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Locks this process holds; one exit hook for all (fleet-sim runs many gateways in one process). */
const held = new Set<DataDirLock>();
let exitHooked = false;

export class DataDirLock {
  private released = false;

  private constructor(
    readonly path: string,
    readonly dataDir: string,
    private readonly text: string,
  ) {
    held.add(this);
    if (!exitHooked) {
      exitHooked = true;
      process.once('exit', () => {
        for (const l of held) l.releaseSync();
      });
    }
  }

  /** Takes the data directory, or throws GatewayError DATA_DIR_LOCKED naming the gateway that holds it. */
  static async acquire(dataDir: string): Promise<Acquired> {
    try {
      return await DataDirLock.tryAcquire(dataDir);
    } catch (err) {
      if (err instanceof GatewayError) throw err;
      const code = (err as NodeJS.ErrnoException).code ?? (err as Error).message;
      throw new GatewayError('DATA_DIR_LOCKED', `cannot create the lock ${join(dataDir, LOCK_FILE)} (${code}); make gateway.data-dir a writable directory for the user running the gateway`);
    }
  }

  private static async tryAcquire(dataDir: string): Promise<Acquired> {
    const path = join(dataDir, LOCK_FILE);
    const me: LockOwner = { pid: process.pid, start: processStartTime(process.pid) ?? '', host: hostname(), since: new Date().toISOString() };
    const text = JSON.stringify(me) + '\n';
    await removeDeadTemps(dataDir);
    for (let attempt = 0; attempt < 50; attempt++) {
      if (await createComplete(path, text)) return { lock: new DataDirLock(path, dataDir, text) };
      const held = await readLock(path);
      if (!held) continue; // released in between: try again
      const why = staleness(held.owner);
      if (why === undefined) throw lockedError(dataDir, path, held.owner!);
      const took = await DataDirLock.takeOver(path, held.text, text);
      if (took === 'taken') return { lock: new DataDirLock(path, dataDir, text), tookOver: { owner: held.owner, why } };
      if (took === 'busy') await sleep(20);
    }
    throw new GatewayError('DATA_DIR_LOCKED', `cannot take the lock ${path}: it keeps changing hands; check that only one gateway uses data directory ${dataDir}`);
  }

  /** Replaces the stale lock `staleText` by ours, under the takeover guard. */
  private static async takeOver(path: string, staleText: string, text: string): Promise<'taken' | 'changed' | 'busy'> {
    const guard = `${path}.takeover`;
    if (!(await createComplete(guard, text))) {
      // A takeover in progress, or one a crash interrupted: the guard is stale like a lock is.
      const g = await readLock(guard);
      if (g && staleness(g.owner) !== undefined) await unlink(guard).catch(() => undefined);
      return 'busy';
    }
    try {
      const now = await readLock(path);
      if (now && now.text !== staleText) return 'changed';
      if (now) await unlink(path);
      return (await createComplete(path, text)) ? 'taken' : 'changed';
    } finally {
      await unlink(guard).catch(() => undefined);
    }
  }

  /** Removes the lock if it is still ours (clean stop). */
  async release(): Promise<void> {
    if (this.released) return;
    this.released = true;
    held.delete(this);
    const now = await readLock(this.path).catch(() => undefined);
    if (now?.text === this.text) await unlink(this.path).catch(() => undefined);
  }

  private releaseSync(): void {
    if (this.released) return;
    this.released = true;
    held.delete(this);
    try {
      if (readFileSync(this.path, 'utf8') === this.text) unlinkSync(this.path);
    } catch {
      /* gone already */
    }
  }
}

function lockedError(dataDir: string, path: string, o: LockOwner): GatewayError {
  const where = o.host === hostname() ? `pid ${o.pid}` : `pid ${o.pid} on host ${o.host}`;
  const fix = o.host === hostname()
    ? `stop it first (\`systemctl stop airssys\` or \`kill ${o.pid}\`) or give this one another gateway.data-dir`
    : `stop it first or give this one another gateway.data-dir; if that gateway is gone, delete ${path}`;
  return new GatewayError('DATA_DIR_LOCKED', `data directory ${dataDir} is in use by another gateway (${where}, since ${o.since}); ${fix}`);
}
