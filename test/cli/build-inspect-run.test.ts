import { mkdtemp, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { OK, errWith, sensorWat, strings } from '../helpers/sensor-wat.js';
import { cli, cliProcess } from '../helpers/cli.js';

let dir: string;
const S = { temp: 'temperature', hello: 'sensor ready', bad: 'sensor unplugged', secret: 'humidity' };
const T = strings(S);
const publishTemp = (value: string) => `i32.const ${T.ptr('temp')} i32.const ${T.len('temp')} ${value} i32.const 32 call $publish`;

const MANIFEST = `name: thermo
version: 1.0.0
tick-ms: 1000
capabilities:
  gpio: { read: [17] }
  telemetry: [temperature]
limits: { memory-mb: 16, fuel: 1000000 }
restart: { policy: permanent, intensity: 2, period-ms: 60000 }
`;

async function file(name: string, content: string | Uint8Array) {
  const path = join(dir, name);
  await writeFile(path, content);
  return path;
}

const lines = (out: string[]) => out.map((l) => JSON.parse(l) as Record<string, any>);

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'airssys-cli-'));
  await file('thermo.yaml', MANIFEST);
  // Reads GPIO 17 into the temperature: 20 + level; logs at init.
  await file(
    'sensor.wat',
    sensorWat({
      strings: S,
      init: `i32.const 2 i32.const ${T.ptr('hello')} i32.const ${T.len('hello')} call $log ${OK}`,
      onTick: `i32.const 17 i32.const 16 call $gpio_read ${publishTemp('i32.const 20 i32.load8_u f64.convert_i32_u f64.const 20 f64.add')} ${OK}`,
    }),
  );
  // Publishes `temperature` = the new level on every watched edge.
  await file('edge.wat', sensorWat({ strings: S, onGpio: `${publishTemp('local.get $value f64.convert_i32_u')} ${OK}` }));
  await file('watch.yaml', MANIFEST.replace('gpio: { read: [17] }', 'gpio: { read: [17], watch: [{ pin: 17, edge: both, debounce-ms: 20 }] }'));
  await file('badinit.wat', sensorWat({ strings: S, init: errWith(T.ptr('bad'), T.len('bad')) }));
  await file('err.wat', sensorWat({ strings: S, onTick: errWith(T.ptr('bad'), T.len('bad')) }));
  await file('loop.wat', sensorWat({ onTick: `(loop $l br $l) ${OK}` }));
  // Publishes on a channel its manifest does not grant, then reads a pin it was not given.
  await file('greedy.wat', sensorWat({ strings: S, onTick: `i32.const ${T.ptr('secret')} i32.const ${T.len('secret')} f64.const 1 i32.const 32 call $publish i32.const 4 i32.const 16 call $gpio_read ${OK}` }));
});

describe('airssys build and inspect', () => {
  it('builds a component from WAT and inspects it', async () => {
    const out = join(dir, 'sensor.wasm');
    const built = await cli(['build', join(dir, 'sensor.wat'), '-o', out]);
    expect(built).toMatchObject({ code: 0 });
    const info = await cli(['inspect', out, '--json']);
    expect(info.code).toBe(0);
    const json = JSON.parse(info.out[0]!);
    expect(json.world).toBe('airssys:gateway/sensor@0.1.0');
    expect(json.imports).toContain('airssys:gateway/gpio@0.1.0');
    expect(json.exports).toContain('on-tick: func(now-ms: u64) -> result<_, string>');
    expect(json.sha256).toMatch(/^[0-9a-f]{64}$/);
    expect(json.size).toBeGreaterThan(100);
    const human = await cli(['inspect', out]);
    expect(human.out.join('\n')).toMatch(/world\s+airssys:gateway\/sensor@0\.1\.0/);
  });

  it('reports a WAT error as one line pointing at the text', async () => {
    const bad = await file('bad.wat', '(module (func (export "x") i32.const))');
    const r = await cli(['build', bad, '-o', join(dir, 'bad.wasm')]);
    expect(r.code).toBe(1);
    expect(r.err).toHaveLength(1);
    expect(r.err[0]).toMatch(/WAT does not parse/);
  });
});

describe('airssys build --world', () => {
  it('builds a source that needs only 0.1.0 as a 0.2.0 component, from AssemblyScript and from WAT', async () => {
    const src = await file('minimal.ts', 'import { telemetry, Status } from "@airssys/sdk";\nexport function onTick(nowMs: u64): Status { return telemetry.publish("temperature", <f64>nowMs); }\n');
    const plain = join(dir, 'minimal-v1.wasm');
    expect(await cli(['build', src, '-o', plain])).toMatchObject({ code: 0 });
    expect(JSON.parse((await cli(['inspect', plain, '--json'])).out[0]!).world).toBe('airssys:gateway/sensor@0.1.0');
    const v2 = join(dir, 'minimal-v2.wasm');
    expect(await cli(['build', src, '-o', v2, '--world', '0.2.0'])).toMatchObject({ code: 0 });
    const info = JSON.parse((await cli(['inspect', v2, '--json'])).out[0]!);
    expect(info.world).toBe('airssys:gateway/sensor@0.2.0');
    expect(info.imports).toContain('airssys:gateway/telemetry@0.2.0');
    expect(info.imports.filter((i: string) => i.endsWith('@0.1.0'))).toEqual([]);

    const wat = join(dir, 'sensor-v2.wasm');
    expect(await cli(['build', join(dir, 'sensor.wat'), '-o', wat, '--world', '0.2.0'])).toMatchObject({ code: 0 });
    expect(JSON.parse((await cli(['inspect', wat, '--json'])).out[0]!).world).toBe('airssys:gateway/sensor@0.2.0');
  });

  it('refuses an unknown world version with one line and exit 2, before building', async () => {
    const r = await cliProcess(['build', join(dir, 'sensor.wat'), '-o', join(dir, 'never.wasm'), '--world', '0.3.0']);
    expect(r.code).toBe(2);
    expect(r.stdout).toBe('');
    const lines = r.stderr.trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/^error: unknown world version "0\.3\.0"; use --world 0\.1\.0 or 0\.2\.0/);
    await expect(stat(join(dir, 'never.wasm'))).rejects.toThrow();
    const help = await cli(['build', '--help']);
    expect(help.out.join('\n')).toMatch(/--world VERSION\s+world version to build for \(0\.1\.0 or 0\.2\.0\)/);
  });
});

describe('airssys run', () => {
  beforeAll(async () => {
    for (const n of ['sensor', 'err', 'loop', 'greedy', 'edge', 'badinit']) expect((await cli(['build', join(dir, `${n}.wat`), '-o', join(dir, `${n}.wasm`)])).code).toBe(0);
  });
  const runArgs = (name: string, ...extra: string[]) => ['run', join(dir, `${name}.wasm`), '--manifest', join(dir, 'thermo.yaml'), '--data-dir', join(dir, 'var'), ...extra];

  it('prints telemetry and logs as JSON lines, then a summary; GPIO is driven by the script', async () => {
    const r = await cli(runArgs('sensor', '--ticks', '4', '--gpio', '17=1@2'));
    expect(r.code).toBe(0);
    const out = lines(r.out);
    expect(out[0]).toEqual({ log: { level: 'info', message: 'sensor ready' } });
    const values = out.filter((l) => l.telemetry).map((l) => l.telemetry.value);
    expect(values).toEqual([20, 20, 21, 21]);
    expect(out.filter((l) => l.telemetry).every((l) => l.telemetry.channel === 'temperature' && typeof l.telemetry.ts === 'number')).toBe(true);
    expect(out.at(-1)).toMatchObject({ summary: { ticks: 4, events: 5, errors: 0, restarts: 0 } });
  });

  it('delivers debounced GPIO edges on the virtual clock, between ticks', async () => {
    const r = await cli(['run', join(dir, 'edge.wasm'), '--manifest', join(dir, 'watch.yaml'), '--data-dir', join(dir, 'var'), '--ticks', '4', '--gpio', '17=1@1', '--gpio', '17=0@3']);
    expect(r.code).toBe(0);
    const values = lines(r.out).filter((l) => l.telemetry).map((l) => l.telemetry.value);
    expect(values).toEqual([1, 0]);
  });

  it('reports returned errors with the event, and keeps going', async () => {
    const r = await cli(runArgs('err', '--ticks', '3'));
    expect(r.code).toBe(0);
    const out = lines(r.out);
    expect(out.filter((l) => l.error)).toEqual(Array(3).fill({ error: { kind: 'returned-err', event: 'on-tick', message: 'sensor unplugged' } }));
    expect(out.at(-1)).toMatchObject({ summary: { ticks: 3, errors: 3, restarts: 0 } });
  });

  it('reports denied host calls as errors', async () => {
    const r = await cli(runArgs('greedy', '--ticks', '1'));
    expect(r.code).toBe(0);
    const errs = lines(r.out).filter((l) => l.error).map((l) => l.error);
    expect(errs).toEqual([
      { kind: 'denied', event: 'on-tick', message: expect.stringMatching(/telemetry channel humidity/) },
      { kind: 'denied', event: 'on-tick', message: expect.stringMatching(/gpio\.read pin 4/) },
    ]);
  });

  it('stops an infinite loop with out-of-fuel, restarts, and gives up past the intensity', async () => {
    const r = await cli(runArgs('loop', '--ticks', '5'));
    expect(r.code).toBe(1);
    const out = lines(r.out);
    expect(out.filter((l) => l.error).map((l) => l.error.kind)).toEqual(['out-of-fuel', 'out-of-fuel', 'out-of-fuel']);
    expect(out.at(-1)).toMatchObject({ summary: { ticks: 2, restarts: 2 } });
    expect(r.err[0]).toMatch(/more than 2 times/);
  });

  it('treats an init that returns err as the gateway does: restarted, then given up past the intensity', async () => {
    const r = await cli(runArgs('badinit', '--ticks', '3'));
    expect(r.code).toBe(1);
    const out = lines(r.out);
    expect(out.filter((l) => l.error).map((l) => [l.error.kind, l.error.event])).toEqual(Array(3).fill(['returned-err', 'init']));
    expect(out.at(-1)).toMatchObject({ summary: { ticks: 0, restarts: 2 } });
    expect(r.err[0]).toMatch(/more than 2 times/);
  });

  it('exits 2 with one line for files that cannot be loaded, never a stack trace', async () => {
    const garbage = await file('garbage.wasm', new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]));
    for (const target of [garbage, join(dir, 'missing.wasm')]) {
      const r = await cliProcess(['run', target, '--manifest', join(dir, 'thermo.yaml'), '--data-dir', join(dir, 'var')]);
      expect(r.code).toBe(2);
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
      expect(r.stderr).toMatch(/^error: /);
      expect(r.stderr).not.toMatch(/\n\s+at /);
    }
    const badManifest = await file('bad.yaml', 'name: Thermo!\nversion: 1\n');
    const r = await cliProcess(['run', join(dir, 'sensor.wasm'), '--manifest', badManifest]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/manifest name: "Thermo!" is not a valid component name/);
  });
});

describe('output into a closed pipe', () => {
  it('ends quietly when the reader goes away (airssys run ... | head -1)', async () => {
    const { execFile } = await import('node:child_process');
    const { BIN } = await import('../helpers/cli.js');
    // 20,000 ticks print far more than a pipe buffer holds, so writes continue after head exits.
    const cmd = `"${process.execPath}" "${BIN}" run "${join(dir, 'sensor.wasm')}" --manifest "${join(dir, 'thermo.yaml')}" --data-dir "${join(dir, 'var')}" --ticks 20000 | head -1 >/dev/null; echo "rc=\${PIPESTATUS[0]}" >&2`;
    const stderr = await new Promise<string>((resolve) => {
      execFile('bash', ['-c', cmd], { env: { ...process.env, AIRSSYS_FROM_SOURCE: '1' }, timeout: 120_000 }, (_err, _out, err) => resolve(err));
    });
    expect(stderr).not.toMatch(/EPIPE|Error|at /);
    expect(stderr).toMatch(/rc=0/);
  });
});
