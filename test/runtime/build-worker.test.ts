import { spawn } from 'node:child_process';
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

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

async function until(check: () => boolean, ms: number): Promise<boolean> {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) return false;
    await new Promise((r) => setTimeout(r, 50));
  }
  return true;
}

describe('the build process', () => {
  it('is a separate process that exits when idle, and a later build starts a new one', async () => {
    const w = new BuildWorker({ idleMs: 300 });
    try {
      await w.warm();
      const first = w.pid!;
      expect(first).not.toBe(process.pid);
      expect(alive(first)).toBe(true);
      expect(await until(() => !alive(first), 10_000)).toBe(true);
      const dir = await mkdtemp(join(tmpdir(), 'airssys-bw-'));
      const p = await new Engine({ cacheDir: dir, builder: w }).prepare(await wellBehavedSensor(), { memoryMb: 16 });
      expect(p.info.fromCache).toBe(false);
    } finally {
      await w.close();
    }
  });

  it('a build that comes while the idle process is being closed runs on a new process; the old one\'s exit does not fail it', async () => {
    const w = new BuildWorker();
    try {
      const sensor = await wellBehavedSensor();
      await w.warm();
      const old = w.pid!;
      // What the idle timer does: close() (not awaited) while a release arrives.
      const closing = w.close();
      const building = w.build(sensor, { memoryMb: 16, instrument: true });
      await closing;
      expect(alive(old)).toBe(false);
      expect((await building).exports.length).toBeGreaterThan(0);
      expect(w.pid).not.toBe(old);
    } finally {
      await w.close();
    }
  });

  it('a build whose process is killed fails with a clear error, and the next build works', async () => {
    const w = new BuildWorker();
    try {
      await w.warm();
      const sensor = await wellBehavedSensor();
      const building = w.build(sensor, { memoryMb: 16, instrument: true });
      process.kill(w.pid!, 'SIGKILL');
      const err = await building.then(() => undefined, (e: unknown) => e);
      expect(err).toBeInstanceOf(GatewayError);
      expect((err as GatewayError).code).toBe('BUILD_WORKER_FAILED');
      expect((err as GatewayError).message).toMatch(/killed by SIGKILL; check free memory/);
      const again = await w.build(sensor, { memoryMb: 16, instrument: true });
      expect(again.exports.length).toBeGreaterThan(0);
    } finally {
      await w.close();
    }
  });

  it('ends by itself when its parent is SIGKILLed', async () => {
    const mod = new URL('../../runtime/build/build-worker.ts', import.meta.url).href;
    const script = `const { BuildWorker } = await import(${JSON.stringify(mod)});
      const w = new BuildWorker({ idleMs: 600000 }); await w.warm(); console.log(w.pid); setInterval(() => {}, 1000);`;
    const parent = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
    const pid = await new Promise<number>((resolve, reject) => {
      parent.stdout!.once('data', (d) => resolve(Number(String(d).trim())));
      parent.once('exit', (code) => reject(new Error(`parent exited ${code}`)));
    });
    expect(alive(pid)).toBe(true);
    parent.kill('SIGKILL');
    expect(await until(() => !alive(pid), 10_000)).toBe(true);
  });
});
