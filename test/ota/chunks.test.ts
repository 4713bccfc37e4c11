import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import type { MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { artifactTopic, fetchArtifact, type Progress } from '../../gateway/ota/chunks.js';
import { sha256Hex } from '../../gateway/ota/envelope.js';
import { OtaError } from '../../gateway/ota/reasons.js';
import { client, fakeComponent, startMosquitto, tmp, type Broker } from './helpers.js';

let broker: Broker;
beforeAll(async () => {
  broker = await startMosquitto();
});
afterAll(async () => {
  await broker.stop();
});

const CHUNK = 1000;
function artifact(bytes: Uint8Array) {
  return { sha256: sha256Hex(bytes), size: bytes.length, chunkSize: CHUNK, chunks: Math.ceil(bytes.length / CHUNK) };
}
async function publishChunks(c: MqttClient, prefix: string, bytes: Uint8Array, indexes: number[], mangle?: (i: number, b: Buffer) => Buffer) {
  const a = artifact(bytes);
  for (const i of indexes) {
    let b = Buffer.from(bytes.subarray(i * CHUNK, Math.min(bytes.length, (i + 1) * CHUNK)));
    if (mangle) b = mangle(i, b);
    await c.publishAsync(artifactTopic(prefix, a.sha256, i), b, { qos: 1, retain: true });
  }
}
const failure = async (p: Promise<unknown>) => {
  try {
    await p;
  } catch (err) {
    if (err instanceof OtaError) return `${err.reason}: ${err.detail}`;
    throw err;
  }
  return 'ok';
};

describe('chunk fetcher', () => {
  it('fetches retained chunks, reports progress and returns the verified bytes', async () => {
    const c = await client(broker.url);
    const bytes = fakeComponent('a', 4500);
    await publishChunks(c, 't1', bytes, [0, 1, 2, 3, 4]);
    const seen: Progress[] = [];
    const out = await fetchArtifact({ mqtt: c, prefix: 't1', partialDir: tmp('part'), artifact: artifact(bytes), onProgress: (p) => seen.push(p) });
    expect(Buffer.compare(Buffer.from(out), Buffer.from(bytes))).toBe(0);
    expect(seen.at(-1)).toMatchObject({ received: 5, chunks: 5, bytes: 4500, size: 4500, resumed: 0 });
    expect(seen.length).toBe(6);
    await c.endAsync();
  });

  it('a missing chunk times out with what is missing; after a restart the download resumes from disk', async () => {
    const dir = tmp('part');
    const bytes = fakeComponent('b', 4500);
    const a = artifact(bytes);
    const c1 = await client(broker.url);
    await publishChunks(c1, 't2', bytes, [0, 1, 2]);
    expect(await failure(fetchArtifact({ mqtt: c1, prefix: 't2', partialDir: dir, artifact: a, idleTimeoutMs: 400 }))).toBe('timeout: no chunk for 400 ms: 3/5 chunks; missing 3, 4');
    await c1.endAsync();
    expect(readdirSync(join(dir, a.sha256)).sort()).toEqual(['0.chunk', '1.chunk', '2.chunk']);
    // "Restart": a new client; the first chunks are gone from the broker, so they can only come from disk.
    const c2 = await client(broker.url);
    for (const i of [0, 1, 2]) await c2.publishAsync(artifactTopic('t2', a.sha256, i), Buffer.alloc(0), { qos: 1, retain: true });
    await publishChunks(c2, 't2', bytes, [3, 4]);
    const seen: Progress[] = [];
    const out = await fetchArtifact({ mqtt: c2, prefix: 't2', partialDir: dir, artifact: a, idleTimeoutMs: 2000, onProgress: (p) => seen.push(p) });
    expect(sha256Hex(out)).toBe(a.sha256);
    expect(seen[0]).toMatchObject({ received: 3, resumed: 3 });
    await c2.endAsync();
  });

  it('survives a broker outage mid-download', async () => {
    const own = await startMosquitto();
    const bytes = fakeComponent('c', 4000);
    const a = artifact(bytes);
    const fetcherClient = await client(own.url, { reconnectPeriod: 100 });
    const pub = await client(own.url);
    await publishChunks(pub, 't3', bytes, [0, 1]);
    await pub.endAsync();
    const seen: Progress[] = [];
    const done = fetchArtifact({ mqtt: fetcherClient, prefix: 't3', partialDir: tmp('part'), artifact: a, idleTimeoutMs: 10_000, onProgress: (p) => seen.push(p) });
    while (seen.at(-1)?.received !== 2) await new Promise((r) => setTimeout(r, 20));
    await own.stop();
    await new Promise((r) => setTimeout(r, 300));
    await own.restart();
    const pub2 = await client(own.url);
    await publishChunks(pub2, 't3', bytes, [2, 3]);
    expect(sha256Hex(await done)).toBe(a.sha256);
    await pub2.endAsync();
    await fetcherClient.endAsync();
    await own.stop();
  });

  it('hash-mismatch when the chunks add up to other bytes; the partial download is dropped', async () => {
    const dir = tmp('part');
    const c = await client(broker.url);
    const bytes = fakeComponent('d', 2500);
    const a = artifact(bytes);
    await publishChunks(c, 't4', bytes, [0, 1, 2], (i, b) => (i === 1 ? Buffer.from(b.map((x) => x ^ 0xff)) : b));
    const r = await failure(fetchArtifact({ mqtt: c, prefix: 't4', partialDir: dir, artifact: a }));
    expect(r).toMatch(/^hash-mismatch: reassembled 2500 bytes with sha256 [0-9a-f]{64}; the manifest says 2500 bytes/);
    expect(existsSync(join(dir, a.sha256))).toBe(false);
    await c.endAsync();
  });

  it('a truncated chunk is not kept and ends in timeout naming it', async () => {
    const c = await client(broker.url);
    const bytes = fakeComponent('e', 2500);
    await publishChunks(c, 't5', bytes, [0, 1, 2], (i, b) => (i === 1 ? b.subarray(0, 10) : b));
    const r = await failure(fetchArtifact({ mqtt: c, prefix: 't5', partialDir: tmp('part'), artifact: artifact(bytes), idleTimeoutMs: 400 }));
    expect(r).toBe('timeout: no chunk for 400 ms: 2/3 chunks; missing 1; chunk 1 had 10 bytes, expected 1000');
    await c.endAsync();
  });
});
