// SLOW SUITE: builds a JavaScript component with componentize-js (StarlingMonkey, ~12 MB, ~1-2 min
// on a cold cache). The output is cached by the hash of everything that goes into it, under
// $AIRSSYS_COMPONENTIZE_CACHE or <tmp>/airssys-componentize-cache, so reruns take seconds.
import { describe, expect, it, beforeAll } from 'vitest';
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, existsSync, writeFileSync, renameSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { componentProblems } from '../../sdk/component-check.js';
import { loadComponent } from '../../sdk/testing.js';
import { worldWit } from '../../runtime/world.js';
import { instantiateDirect, hostErr } from './jco-direct.js';

const SOURCE = fileURLToPath(new URL('./fixtures/js-component.js', import.meta.url));
const OPTIONS = { worldName: 'sensor', disableFeatures: ['stdio', 'random', 'clocks', 'http', 'fetch-event'] as const };

async function buildCached(): Promise<Uint8Array> {
  const cjs = await import('@bytecodealliance/componentize-js');
  const version = cjs.version;
  const src = readFileSync(SOURCE, 'utf8');
  const key = createHash('sha256').update(JSON.stringify({ version, src, wit: worldWit(), OPTIONS })).digest('hex');
  const dir = process.env.AIRSSYS_COMPONENTIZE_CACHE ?? path.join(tmpdir(), 'airssys-componentize-cache');
  const file = path.join(dir, `${key}.wasm`);
  if (existsSync(file)) return new Uint8Array(readFileSync(file));
  const { componentize } = cjs;
  // The WIT goes in as text: the splicer runs under WASI and cannot see host paths like /work/.../wit.
  const { component } = await componentize(src, worldWit(), { sourceName: 'js-component.js', ...OPTIONS, disableFeatures: [...OPTIONS.disableFeatures] });
  mkdirSync(dir, { recursive: true });
  writeFileSync(file + '.tmp', component);
  renameSync(file + '.tmp', file);
  return component;
}

let bytes: Uint8Array;
beforeAll(async () => {
  bytes = await buildCached();
}, 600_000);

// jco transpile and the runtime's instrumentation of a 12 MB core module take tens of seconds.
describe('JavaScript component via componentize-js (slow)', { timeout: 300_000 }, () => {
  it('is a pure component: only the world imports, every export present', async () => {
    expect(bytes.length).toBeGreaterThan(1_000_000);
    expect(await componentProblems(bytes)).toEqual([]);
  });

  it('runs through jco transpile with a hand-written host', async () => {
    const published: [string, number][] = [];
    const json: unknown[] = [];
    const c = await instantiateDirect(bytes, {
      'airssys:gateway/gpio': { read: () => false, write: (pin: number) => { if (pin !== 22) throw hostErr('denied', 'no'); } },
      'airssys:gateway/serial': { write: (_p: string, d: Uint8Array) => d.length },
      'airssys:gateway/telemetry': { publish: (ch: string, v: number) => void published.push([ch, v]), publishJson: (_c: string, j: string) => void json.push(JSON.parse(j)) },
      'airssys:gateway/messaging': { send: () => {} },
      'airssys:gateway/host': { log: () => {}, nowMs: () => 0n, config: (k: string) => (k === 'scale' ? '10' : undefined) },
    });
    c.exports.init!();
    c.exports.onTick!(1n);
    c.exports.onTick!(2n);
    expect(published).toEqual([['ticks', 10], ['ticks', 20]]);
    c.exports.onGpio!(5, true, 3n);
    c.exports.onSerial!('/dev/x', new TextEncoder().encode('héllo'));
    expect(json).toEqual([{ pin: 5, tag: 'denied' }, { port: '/dev/x', text: 'héllo', n: 6 }]);
  });

  it('runs on the gateway runtime through the SDK test helper (fuel, err results)', async () => {
    const c = await loadComponent(bytes, {
      manifest: {
        name: 'js-demo', version: '1.0.0', 'tick-ms': 1000,
        capabilities: { gpio: { write: [22] }, telemetry: ['ticks', 'refused', 'line'], config: { scale: '2' } },
        limits: { fuel: 500_000_000, 'memory-mb': 64 },
      },
    });
    expect(c.init()).toMatchObject({ ok: true });
    const outcomes = c.tick(4);
    expect(c.values('ticks')).toEqual([2, 4, 6, 8]);
    expect(outcomes[0]).toMatchObject({ ok: true });
    expect(outcomes[3]).toMatchObject({ ok: false, kind: 'returned-err', message: 'too many ticks' });
    expect(c.logs).toContainEqual({ level: 'info', message: 'js component ready, scale 2' });
  });
});
