import { mkdtemp, readdir, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { beforeAll, describe, expect, it } from 'vitest';
import { Engine } from '../../runtime/engine.js';
import { GatewayError } from '../../runtime/errors.js';
import { wellBehavedSensor, returnsErr, trapsOnTick, otherWorld, importsOutsideWorld } from '../helpers/components.js';
import { RecordingHost } from '../helpers/recording-host.js';
import { watToCore } from '../../runtime/build/wat.js';

const run = promisify(execFile);
const LIMITS = { memoryMb: 16 };
const FUEL = { fuel: 10_000_000 };

async function freshEngine() {
  const dir = await mkdtemp(join(tmpdir(), 'airssys-engine-'));
  return { engine: new Engine({ cacheDir: join(dir, 'cache') }), dir };
}

async function expectCode(p: Promise<unknown>, code: string, text: RegExp) {
  const err = await p.then(() => undefined, (e: unknown) => e);
  expect(err).toBeInstanceOf(GatewayError);
  expect((err as GatewayError).code).toBe(code);
  expect((err as GatewayError).message).toMatch(text);
  expect((err as GatewayError).message).not.toContain('\n');
}

describe('engine: load, instantiate, call', () => {
  let sensor: Uint8Array;
  beforeAll(async () => {
    sensor = await wellBehavedSensor();
  });

  it('runs a well-behaved sensor: init logs, ticks read GPIO and publish', async () => {
    const { engine } = await freshEngine();
    const prepared = await engine.prepare(sensor, LIMITS);
    expect(prepared.info.fromCache).toBe(false);
    expect(prepared.info.exports).toHaveLength(5);
    const host = new RecordingHost();
    const inst = prepared.instantiate(host, FUEL);
    expect(inst.call('init')).toMatchObject({ ok: true });
    expect(host.logs).toEqual([{ level: 'info', message: 'sensor ready' }]);
    host.pins.set(17, true);
    const tick = inst.call('on-tick', [1000n]);
    expect(tick.ok).toBe(true);
    expect(tick.fuelUsed).toBeGreaterThan(0);
    host.pins.set(17, false);
    inst.call('on-tick', [2000n]);
    expect(host.published).toEqual([
      { channel: 'temperature', value: 21 },
      { channel: 'temperature', value: 20 },
    ]);
  });

  it('hands a host refusal to the guest as err(host-error), not a trap', async () => {
    const { engine } = await freshEngine();
    const host = new RecordingHost();
    host.deniedPins.add(17);
    const inst = (await engine.prepare(sensor, LIMITS)).instantiate(host, FUEL);
    expect(inst.call('on-tick', [1n]).ok).toBe(true);
    // the sensor publishes 100 + case index when the read returned err: denied is case 0
    expect(host.published).toEqual([{ channel: 'temperature', value: 100 }]);
    expect(inst.isCrashed).toBe(false);
  });

  it('reports an export returning err as a handled failure; the instance lives on', async () => {
    const { engine } = await freshEngine();
    const inst = (await engine.prepare(await returnsErr(), LIMITS)).instantiate(new RecordingHost(), FUEL);
    const outcome = inst.call('on-tick', [1n]);
    expect(outcome).toMatchObject({ ok: false, kind: 'returned-err', message: 'sensor unplugged' });
    expect(inst.isCrashed).toBe(false);
    expect(inst.call('init').ok).toBe(true);
  });

  it('contains a trap, discards the instance, and a new instance works', async () => {
    const { engine } = await freshEngine();
    const prepared = await engine.prepare(await trapsOnTick(), LIMITS);
    const host = new RecordingHost();
    const inst = prepared.instantiate(host, FUEL);
    expect(inst.call('on-tick', [1n])).toMatchObject({ ok: false, kind: 'trap' });
    expect(inst.isCrashed).toBe(true);
    expect(inst.call('init')).toMatchObject({ ok: false, kind: 'trap', message: expect.stringMatching(/discarded/) });
    const again = prepared.instantiate(host, FUEL);
    expect(again.call('init').ok).toBe(true);
    expect(host.published).toHaveLength(1);
  });

  it('caches artifacts: the second load comes from disk and behaves the same', async () => {
    const { engine, dir } = await freshEngine();
    await engine.prepare(sensor, LIMITS);
    const warm = await new Engine({ cacheDir: join(dir, 'cache') }).prepare(sensor, LIMITS);
    expect(warm.info.fromCache).toBe(true);
    const host = new RecordingHost();
    const inst = warm.instantiate(host, FUEL);
    inst.call('on-tick', [1n]);
    expect(host.published).toEqual([{ channel: 'temperature', value: 20 }]);
    const entries = await readdir(join(dir, 'cache'));
    expect(entries).toHaveLength(1);
    const files = await readdir(join(dir, 'cache', entries[0]!));
    expect(files).toContain('glue.mjs');
    expect(files).toContain('meta.json');
  });

  it('rebuilds a damaged cache entry instead of running it', async () => {
    const { engine, dir } = await freshEngine();
    await engine.prepare(sensor, LIMITS);
    const [entry] = await readdir(join(dir, 'cache'));
    const glue = join(dir, 'cache', entry!, 'glue.mjs');
    const { writeFile } = await import('node:fs/promises');
    await writeFile(glue, (await readFile(glue, 'utf8')) + '\nglobalThis.__tampered = true;\n');
    const again = await new Engine({ cacheDir: join(dir, 'cache') }).prepare(sensor, LIMITS);
    expect(again.info.fromCache).toBe(false);
    expect((globalThis as { __tampered?: boolean }).__tampered).toBeUndefined();
  });

  it('prunes torn writes and entries of other tool versions, never the ones in use', async () => {
    const { engine, dir } = await freshEngine();
    const prepared = await engine.prepare(sensor, LIMITS);
    const { mkdir } = await import('node:fs/promises');
    const stale = `${'a'.repeat(64)}-jco1.0.0-g1-i1-m16`;
    const torn = `${engine.cacheKey('b'.repeat(64), LIMITS)}.tmp-1-2`;
    const other = engine.cacheKey('c'.repeat(64), LIMITS);
    for (const d of [stale, torn, other]) await mkdir(join(dir, 'cache', d), { recursive: true });
    const live = engine.cacheKey(prepared.info.sha256, LIMITS);
    expect(await engine.prune({ inUse: new Set([live]) })).toBe(2);
    expect((await readdir(join(dir, 'cache'))).sort()).toEqual([live, other].sort());
    expect(await engine.prune({ inUse: new Set([live]), maxEntries: 0 })).toBe(1);
    expect(await readdir(join(dir, 'cache'))).toEqual([live]);
  });

  it('a warm load in a fresh process never loads jco', async () => {
    const { engine, dir } = await freshEngine();
    await engine.prepare(sensor, LIMITS);
    const file = join(dir, 'sensor.wasm');
    const { writeFile } = await import('node:fs/promises');
    await writeFile(file, sensor);
    const script = `
      import { Engine } from ${JSON.stringify(new URL('../../runtime/engine.ts', import.meta.url).pathname)};
      import { jcoLoaded } from ${JSON.stringify(new URL('../../runtime/jco.ts', import.meta.url).pathname)};
      import { readFileSync } from 'node:fs';
      const p = await new Engine({ cacheDir: ${JSON.stringify(join(dir, 'cache'))} }).prepare(readFileSync(${JSON.stringify(file)}), { memoryMb: 16 });
      console.log(JSON.stringify({ fromCache: p.info.fromCache, jco: jcoLoaded() }));`;
    const { stdout } = await run(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script]);
    expect(JSON.parse(stdout.trim().split('\n').pop()!)).toEqual({ fromCache: true, jco: false });
  });
});

describe('engine: bad input is one clear line, nothing cached', () => {
  it('rejects garbage, core modules, truncated files and other worlds', async () => {
    const { engine, dir } = await freshEngine();
    const sensor = await wellBehavedSensor();
    await expectCode(engine.prepare(new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8, 9]), LIMITS), 'NOT_WASM', /not a WebAssembly file/);
    await expectCode(engine.prepare(new Uint8Array(0), LIMITS), 'NOT_WASM', /not a WebAssembly file/);
    await expectCode(engine.prepare(await watToCore('(module)'), LIMITS), 'NOT_A_COMPONENT', /core WebAssembly module, not a component/);
    await expectCode(engine.prepare(sensor.slice(0, Math.floor(sensor.length / 2)), LIMITS), 'INVALID_COMPONENT', /not valid/);
    await expectCode(engine.prepare(await otherWorld(), LIMITS), 'INCOMPATIBLE_WORLD', /unexpected export `run: func\(\)`/);
    await expectCode(engine.prepare(await importsOutsideWorld(), LIMITS), 'INCOMPATIBLE_WORLD', /imports airssys:gateway\/secrets@0.1.0, which is outside the world/);
    const cached = await readdir(join(dir, 'cache')).catch(() => []);
    expect(cached).toEqual([]);
  });
});
