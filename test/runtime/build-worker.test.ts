import { mkdtemp, readdir, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { BuildWorker } from '../../runtime/build/build-worker.js';
import { Engine } from '../../runtime/engine.js';
import { GatewayError } from '../../runtime/errors.js';
import { otherWorld, wellBehavedSensor } from '../helpers/components.js';
import { RecordingHost } from '../helpers/recording-host.js';

const worker = new BuildWorker({ idleMs: 5_000 });
afterAll(() => worker.close());

describe('cold builds on the build worker', () => {
  it('writes the same cache entry as an inline build, and the component runs', async () => {
    const sensor = await wellBehavedSensor();
    const a = await mkdtemp(join(tmpdir(), 'airssys-bw-'));
    const b = await mkdtemp(join(tmpdir(), 'airssys-bw-'));
    let ticks = 0;
    const timer = setInterval(() => ticks++, 5);
    const viaWorker = await new Engine({ cacheDir: a, builder: worker }).prepare(sensor, { memoryMb: 16 });
    clearInterval(timer);
    // The event loop kept turning while jco loaded and transpiled on the other thread.
    expect(ticks).toBeGreaterThan(3);
    await new Engine({ cacheDir: b }).prepare(sensor, { memoryMb: 16 });
    const [entry] = await readdir(a);
    for (const file of await readdir(join(a, entry!))) {
      if (file === 'meta.json') continue;
      expect(Buffer.compare(await readFile(join(a, entry!, file)), await readFile(join(b, entry!, file)))).toBe(0);
    }
    const host = new RecordingHost();
    host.pins.set(17, true);
    const inst = viaWorker.instantiate(host, { fuel: 1_000_000 });
    expect(inst.call('on-tick', [1n]).ok).toBe(true);
    expect(host.published).toEqual([{ channel: 'temperature', value: 21 }]);
  });

  it('hands errors back with their code and one-line message', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'airssys-bw-'));
    const err = await new Engine({ cacheDir: dir, builder: worker }).prepare(await otherWorld(), { memoryMb: 16 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(GatewayError);
    expect((err as GatewayError).code).toBe('INCOMPATIBLE_WORLD');
    expect((err as GatewayError).message).toMatch(/unexpected export `run: func\(\)`/);
    expect(await readdir(dir).catch(() => [])).toEqual([]);
  });
});

describe('build worker lifecycle', () => {
  it('a warm-up in flight when the worker is closed fails with a clear error instead of hanging', async () => {
    const w = new BuildWorker();
    const warming = w.warm();
    await w.close();
    const err = await warming.then(() => undefined, (e: unknown) => e);
    expect(err).toBeInstanceOf(GatewayError);
    expect((err as GatewayError).code).toBe('BUILD_WORKER_FAILED');
  });
});
