import { createHash } from 'node:crypto';
import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { atomicWrite, removeTree } from '../../runtime/durable.js';
import type { MessageListener, MqttPort } from './mqtt-port.js';
import { OtaError } from './reasons.js';
import { isNoSpace, noSpaceError } from './space.js';

/**
 * Fetches a release's chunks from the retained topics `<prefix>/artifacts/<sha256>/<index>` into a
 * partial-download directory, one file per chunk, so a gateway restart or a broker outage resumes
 * where it stopped. Chunks are checked for their expected length as they arrive (a truncated one is
 * not kept); the reassembled bytes are checked against the manifest's size and sha256.
 */

export interface ArtifactSpec {
  sha256: string;
  size: number;
  chunkSize: number;
  chunks: number;
}

export interface Progress {
  received: number;
  chunks: number;
  bytes: number;
  size: number;
  /** Chunks found on disk from an earlier, interrupted download. */
  resumed: number;
}

export interface FetchOptions {
  mqtt: MqttPort;
  prefix: string;
  /** Parent directory of all partial downloads (store.partialDir). */
  partialDir: string;
  artifact: ArtifactSpec;
  /** No new chunk for this long: `timeout` (default 30 s). */
  idleTimeoutMs?: number;
  /** Whole download limit (default 10 min). */
  timeoutMs?: number;
  onProgress?: (p: Progress) => void;
  signal?: AbortSignal;
}

export const artifactTopic = (prefix: string, sha256: string, index: number | '+') => `${prefix}/artifacts/${sha256}/${index}`;
export const partialPath = (partialDir: string, sha256: string) => join(partialDir, sha256);

export function chunkLength(a: ArtifactSpec, index: number): number {
  return index < a.chunks - 1 ? a.chunkSize : a.size - a.chunkSize * (a.chunks - 1);
}

export async function discardPartial(partialDir: string, sha256: string): Promise<void> {
  await removeTree(partialPath(partialDir, sha256));
}

/** Chunk indexes already on disk with the right length. */
async function onDisk(dir: string, a: ArtifactSpec): Promise<Set<number>> {
  const have = new Set<number>();
  let names: string[] = [];
  try {
    names = await readdir(dir);
  } catch {
    return have;
  }
  for (const n of names) {
    const m = /^(\d+)\.chunk$/.exec(n);
    if (!m) continue;
    const i = Number(m[1]);
    if (i >= a.chunks) continue;
    const st = await stat(join(dir, n));
    if (st.size === chunkLength(a, i)) have.add(i);
  }
  return have;
}

export async function fetchArtifact(opts: FetchOptions): Promise<Uint8Array> {
  const a = opts.artifact;
  const dir = partialPath(opts.partialDir, a.sha256);
  const have = await onDisk(dir, a);
  const resumed = have.size;
  let bytes = [...have].reduce((n, i) => n + chunkLength(a, i), 0);
  const progress = () => opts.onProgress?.({ received: have.size, chunks: a.chunks, bytes, size: a.size, resumed });
  progress();

  if (have.size < a.chunks) {
    const bad = new Map<number, number>();
    const filter = artifactTopic(opts.prefix, a.sha256, '+');
    const base = filter.slice(0, -1);
    await new Promise<void>((resolve, reject) => {
      let writes = Promise.resolve();
      let done = false;
      const finish = (err?: Error) => {
        if (done) return;
        done = true;
        clearTimeout(idle);
        clearTimeout(overall);
        opts.mqtt.removeListener('message', onMessage);
        opts.signal?.removeEventListener('abort', onAbort);
        opts.mqtt.unsubscribe(filter, () => undefined);
        // Let in-flight chunk writes land before resolving so the files are all there.
        writes.then(() => (err ? reject(err) : resolve()), reject);
      };
      const missing = () => {
        const list: number[] = [];
        for (let i = 0; i < a.chunks && list.length < 8; i++) if (!have.has(i)) list.push(i);
        const more = a.chunks - have.size > list.length ? ', …' : '';
        const truncated = [...bad].map(([i, n]) => `chunk ${i} had ${n} bytes, expected ${chunkLength(a, i)}`).join('; ');
        return `${have.size}/${a.chunks} chunks; missing ${list.join(', ')}${more}${truncated ? `; ${truncated}` : ''}`;
      };
      const timeout = (what: string) => () => finish(new OtaError('timeout', `${what}: ${missing()}`));
      const idleMs = opts.idleTimeoutMs ?? 30_000;
      let idle = setTimeout(timeout(`no chunk for ${idleMs} ms`), idleMs);
      const overall = setTimeout(timeout(`download not done in ${opts.timeoutMs ?? 600_000} ms`), opts.timeoutMs ?? 600_000);
      const onAbort = () => finish(new OtaError('timeout', 'download cancelled'));
      opts.signal?.addEventListener('abort', onAbort);
      const onMessage: MessageListener = (topic, payload) => {
        if (done || !topic.startsWith(base)) return;
        const rest = topic.slice(base.length);
        if (!/^(0|[1-9]\d*)$/.test(rest)) return;
        const i = Number(rest);
        if (i >= a.chunks || have.has(i) || payload.length === 0) return;
        if (payload.length !== chunkLength(a, i)) {
          bad.set(i, payload.length);
          return;
        }
        have.add(i);
        bad.delete(i);
        bytes += payload.length;
        clearTimeout(idle);
        idle = setTimeout(timeout(`no chunk for ${idleMs} ms`), idleMs);
        // Chunks are cheap to fetch again, so no directory fsync per chunk: a lost one is re-fetched.
        const data = Buffer.from(payload);
        writes = writes.then(() =>
          atomicWrite(join(dir, `${i}.chunk`), data, { noDirSync: true }).catch((err: unknown) => {
            throw isNoSpace(err) ? noSpaceError(`writing chunk ${i} to ${dir}`, err) : err;
          }),
        );
        writes.catch((err) => finish(err as Error));
        progress();
        if (have.size === a.chunks) finish();
      };
      opts.mqtt.on('message', onMessage);
      opts.mqtt.subscribe(filter, { qos: 1 }, (err) => {
        if (err) finish(new OtaError('timeout', `cannot subscribe to ${filter}: ${err.message}`));
      });
    });
  }

  const parts: Buffer[] = [];
  for (let i = 0; i < a.chunks; i++) parts.push(await readFile(join(dir, `${i}.chunk`)));
  const whole = Buffer.concat(parts);
  const sha = createHash('sha256').update(whole).digest('hex');
  if (whole.length !== a.size || sha !== a.sha256) {
    // These chunks can never add up: drop them so the next attempt starts clean.
    await discardPartial(opts.partialDir, a.sha256);
    throw new OtaError('hash-mismatch', `reassembled ${whole.length} bytes with sha256 ${sha}; the manifest says ${a.size} bytes, ${a.sha256}`);
  }
  return new Uint8Array(whole.buffer, whole.byteOffset, whole.byteLength);
}
