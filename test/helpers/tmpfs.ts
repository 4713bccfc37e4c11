import { execFileSync } from 'node:child_process';
import { closeSync, mkdirSync, openSync, writeSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';

/**
 * A small real filesystem that fills up: the disk-full tests mount a tmpfs of a few hundred KiB or
 * MiB (needs root) and fill it with `fillDisk`. `mountTmpfs` returns why it could not (the tests
 * skip with that reason) or undefined when mounted.
 */
export function mountTmpfs(at: string, size: string): string | undefined {
  mkdirSync(at, { recursive: true });
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${size}`, 'tmpfs', at], { stdio: 'pipe' });
    return undefined;
  } catch (err) {
    return `cannot mount a tmpfs at ${at} (${((err as { stderr?: Buffer }).stderr?.toString() || (err as Error).message).trim()}); this test needs root`;
  }
}

/** Unmounts after the processes using it are gone (lazily if something still holds it). */
export async function unmountTmpfs(at: string): Promise<void> {
  await sleep(200);
  try {
    execFileSync('umount', [at], { stdio: 'pipe' });
  } catch {
    execFileSync('umount', ['-l', at], { stdio: 'pipe' });
  }
}

/** Writes until the filesystem refuses (ENOSPC); returns the bytes written. */
export function fillDisk(file: string): number {
  const fd = openSync(file, 'w');
  let total = 0;
  try {
    for (const size of [65536, 4096, 512, 64, 1]) {
      const buf = Buffer.alloc(size, 0x55);
      for (;;) {
        try {
          total += writeSync(fd, buf);
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code !== 'ENOSPC') throw err;
          break;
        }
      }
    }
  } finally {
    closeSync(fd);
  }
  return total;
}
