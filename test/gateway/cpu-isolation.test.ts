import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify as toYaml } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildWat } from '../../runtime/build/wat.js';
import { Engine } from '../../runtime/engine.js';
import { Mosquitto, until } from '../helpers/mosquitto.js';
import { OK, sensorWat, strings } from '../helpers/sensor-wat.js';
import { Recorder } from '../helpers/subscriber.js';

/**
 * Hardening issue, against the real gateway process (`airssys start`, from source) and a real
 * Mosquitto: a config component looping endlessly with fuel 1e11 (allowed by its role's limits) is
 * stopped at its deadline on every tick, counted as a crash and restarted by its supervisor, while
 * its neighbour keeps publishing; without the role's ceiling the same config is refused at start
 * with one line.
 */
const GW = 'gw-cpu';
const S = { temp: 'temperature' };
const T = strings(S);

let dir: string;
let broker: Mosquitto;
let rec: Recorder;
let sensor: string;
let spinner: string;
const children = new Set<ChildProcess>();

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'airssys-cpu-'));
  broker = await new Mosquitto().start();
  rec = await new Recorder(broker.url, 'airssys/#').start();
  const write = async (name: string, wat: string) => {
    const path = join(dir, `${name}.wasm`);
    const bytes = await buildWat(wat);
    await writeFile(path, bytes);
    // Warm the gateway's compile cache: what is under test is the loop, not a cold transpile.
    await new Engine({ cacheDir: join(dir, 'var', 'cache') }).prepare(bytes, { memoryMb: 16 });
    return path;
  };
  sensor = await write('sensor', sensorWat({ strings: S, onTick: `i32.const ${T.ptr('temp')} i32.const ${T.len('temp')} f64.const 21.5 i32.const 32 call $publish ${OK}` }));
  spinner = await write('spinner', sensorWat({ onTick: `(loop $spin br $spin) ${OK}` }));
}, 120_000);

afterAll(async () => {
  for (const c of children) c.kill('SIGKILL');
  await rec?.stop();
  await broker?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

async function writeConfig(name: string, roles: Record<string, unknown>): Promise<string> {
  const raw = {
    gateway: { id: GW, 'data-dir': join(dir, 'var') },
    mqtt: { url: broker.url },
    board: 'sim',
    policy: { roles, components: { sensor: ['sensing'], spinner: ['sensing', 'heavy'] } },
    components: [
      { source: sensor, manifest: { name: 'sensor', version: '1.0.0', 'tick-ms': 50, capabilities: { telemetry: ['temperature'] } } },
      {
        source: spinner,
        manifest: { name: 'spinner', version: '1.0.0', 'tick-ms': 200, limits: { fuel: 1e11, 'deadline-ms': 150 }, restart: { policy: 'permanent', intensity: 1000, 'period-ms': 60000 } },
      },
    ],
    log: { level: 'warn' },
  };
  const file = join(dir, `${name}.yaml`);
  await writeFile(file, toYaml(raw));
  return file;
}

function launch(config: string): { child: ChildProcess; output: () => string; exited: Promise<number | null> } {
  const child = spawn(process.execPath, ['bin/airssys.mjs', 'start', '--config', config], { env: { ...process.env, AIRSSYS_FROM_SOURCE: '1' }, stdio: ['ignore', 'pipe', 'pipe'] });
  children.add(child);
  let out = '';
  child.stdout!.on('data', (d) => (out += d));
  child.stderr!.on('data', (d) => (out += d));
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => (children.delete(child), r(code))));
  return { child, output: () => out, exited };
}

const SENSING = { telemetry: ['*'] };

describe('CPU isolation in the real gateway process', () => {
  it('a config component asking fuel 1e11 without a role that allows it is refused at start with one line', async () => {
    const gw = launch(await writeConfig('refused', { sensing: SENSING, heavy: {} }));
    expect(await gw.exited).not.toBe(0);
    const lines = gw.output().trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/spinner: limits\.fuel 100000000000 is above its ceiling 100000000 \(from policy\.default-limits\)/);
    expect(gw.output()).not.toMatch(/\n\s+at /); // no stack trace
  }, 60_000);

  it('an endless loop with fuel 1e11 is stopped at its deadline, restarted by its supervisor, and the neighbour keeps publishing', async () => {
    const gw = launch(await writeConfig('allowed', { sensing: SENSING, heavy: { limits: { fuel: 1e11 } } }));
    try {
      await until(() => rec.json(`gw/${GW}/components/spinner/state`).filter((m) => m.body.state === 'restarting').length >= 3 || gw.child.exitCode !== null, 60_000, `spinner restarts; output: ${gw.output()}`);
      expect(gw.child.exitCode).toBeNull();
      const restarting = rec.json(`gw/${GW}/components/spinner/state`).filter((m) => m.body.state === 'restarting');
      expect(String(restarting[0]!.body.reason)).toMatch(/deadline/);
      // Still looping and being restarted, the neighbour keeps publishing in between.
      const before = rec.json(`gw/${GW}/telemetry/sensor/temperature`).length;
      await until(() => rec.json(`gw/${GW}/telemetry/sensor/temperature`).length >= before + 10, 30_000, 'neighbour samples during the loop');
      await until(() => rec.json(`gw/${GW}/components/spinner/state`).filter((m) => m.body.state === 'restarting').length >= restarting.length + 2, 30_000, 'more spinner restarts');
      expect(rec.json(`gw/${GW}/components/spinner/state`).at(-1)!.body.restarts).toBeGreaterThanOrEqual(3);
    } finally {
      gw.child.kill('SIGTERM');
      await gw.exited;
    }
  }, 180_000);
});
