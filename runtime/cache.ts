import { createHash } from 'node:crypto';
import { mkdir, readdir, readFile, rename, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { writeSynced } from './durable.js';

/**
 * The on-disk cache of load artifacts: jco's glue JS and the instrumented core modules of one
 * component, keyed by everything that shapes them (component sha256, jco version, instrumenter
 * version, memory cap). A warm load reads these files and nothing else: jco is never imported.
 *
 * An entry is written to a temporary folder and renamed into place, so a reader sees a whole entry
 * or none. Each file's sha256 is kept in `meta.json` and checked on read, so a torn or tampered
 * entry is rebuilt instead of being run.
 */
export interface CacheEntryMeta {
  key: string;
  componentSha256: string;
  jcoVersion: string;
  glue: { file: string; sha256: string };
  cores: { name: string; file: string; sha256: string }[];
  imports: string[];
  exports: string[];
  createdAt: number;
}

export interface CachedArtifacts {
  meta: CacheEntryMeta;
  dir: string;
  cores: Map<string, Uint8Array>;
  /** The glue's text as verified against meta.json (a worker imports exactly these bytes). */
  glue: string;
}

export const sha256Hex = (bytes: Uint8Array | string) => createHash('sha256').update(bytes).digest('hex');

export class ArtifactCache {
  constructor(private readonly root: string) {}

  entryDir(key: string): string {
    return join(this.root, key);
  }

  /** Reads a complete, intact entry, or returns undefined (missing or damaged: the caller rebuilds). */
  async read(key: string): Promise<CachedArtifacts | undefined> {
    const dir = this.entryDir(key);
    let meta: CacheEntryMeta;
    try {
      meta = JSON.parse(await readFile(join(dir, 'meta.json'), 'utf8')) as CacheEntryMeta;
    } catch {
      return undefined;
    }
    try {
      const glue = await readFile(join(dir, meta.glue.file));
      if (sha256Hex(glue) !== meta.glue.sha256) return undefined;
      const cores = new Map<string, Uint8Array>();
      for (const core of meta.cores) {
        const bytes = await readFile(join(dir, core.file));
        if (sha256Hex(bytes) !== core.sha256) return undefined;
        cores.set(core.name, bytes);
      }
      return { meta, dir, cores, glue: glue.toString('utf8') };
    } catch {
      return undefined;
    }
  }

  /** Writes an entry atomically (temp dir, fsync each file, rename). */
  async write(key: string, glue: string, cores: { name: string; bytes: Uint8Array }[], info: Omit<CacheEntryMeta, 'key' | 'glue' | 'cores' | 'createdAt'>): Promise<CachedArtifacts> {
    await mkdir(this.root, { recursive: true });
    const dir = this.entryDir(key);
    const tmp = `${dir}.tmp-${process.pid}-${Date.now()}`;
    await mkdir(tmp, { recursive: true });
    try {
      return await this.writeEntry(tmp, dir, key, glue, cores, info);
    } catch (err) {
      // A write the disk refused (full) must not leave a half entry taking the space.
      await rm(tmp, { recursive: true, force: true }).catch(() => undefined);
      throw err;
    }
  }

  private async writeEntry(tmp: string, dir: string, key: string, glue: string, cores: { name: string; bytes: Uint8Array }[], info: Omit<CacheEntryMeta, 'key' | 'glue' | 'cores' | 'createdAt'>): Promise<CachedArtifacts> {
    const put = (file: string, data: Uint8Array | string) => writeSynced(join(tmp, file), data);
    // The glue is an ES module file so it can be imported by URL; `.mjs` keeps Node from guessing.
    await put('glue.mjs', glue);
    const coreMeta = [];
    const coreMap = new Map<string, Uint8Array>();
    for (const [i, core] of cores.entries()) {
      const file = `core${i}.wasm`;
      await put(file, core.bytes);
      coreMeta.push({ name: core.name, file, sha256: sha256Hex(core.bytes) });
      coreMap.set(core.name, core.bytes);
    }
    const meta: CacheEntryMeta = { key, ...info, glue: { file: 'glue.mjs', sha256: sha256Hex(glue) }, cores: coreMeta, createdAt: Date.now() };
    await put('meta.json', JSON.stringify(meta, null, 2));
    await rm(dir, { recursive: true, force: true });
    await rename(tmp, dir);
    return { meta, dir, cores: coreMap, glue };
  }

  /**
   * Frees the disk (an SD card on a Pi) of what can never be read again: folders left by a write
   * that died half-way, and entries whose key `isCurrent` rejects (built by another jco or
   * instrumenter version). Then, past `maxEntries`, the oldest entries not `inUse`.
   */
  async prune(opts: { isCurrent: (key: string) => boolean; inUse?: ReadonlySet<string>; maxEntries?: number }): Promise<number> {
    let names: string[];
    try {
      names = await readdir(this.root);
    } catch {
      return 0;
    }
    let removed = 0;
    const kept: { name: string; mtimeMs: number }[] = [];
    for (const name of names) {
      if (name.includes('.tmp-') || !opts.isCurrent(name)) {
        await rm(join(this.root, name), { recursive: true, force: true });
        removed++;
      } else if (!opts.inUse?.has(name)) {
        kept.push({ name, mtimeMs: (await stat(join(this.root, name)).catch(() => ({ mtimeMs: 0 }))).mtimeMs });
      }
    }
    const max = opts.maxEntries ?? 64;
    kept.sort((a, b) => a.mtimeMs - b.mtimeMs);
    for (const { name } of kept.slice(0, Math.max(0, kept.length - max))) {
      await rm(join(this.root, name), { recursive: true, force: true });
      removed++;
    }
    return removed;
  }
}
