import { spawn, type ChildProcess } from 'node:child_process';
import { cp, mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { stringify as toYaml } from 'yaml';
import { buildWat } from '../../runtime/build/wat.js';
import { Engine } from '../../runtime/engine.js';
import { until } from '../helpers/mosquitto.js';
import { OK, sensorWat, strings } from '../helpers/sensor-wat.js';

/**
 * The real gateway process (`airssys start`, from source) for the extension tests, with components
 * built from WAT now and a warm compile cache copied into each data dir (what is under test is the
 * extension, not a cold transpile).
 */
export const GATEWAY_ID = 'gw-ext';

const S = { temp: 'temperature', hum: 'humidity', secret: 'secret' };
const T = strings(S);

/** `sensor`: every tick publishes temperature 21.5 and humidity 40, and tries `secret` (not granted: denied). */
export const sensorComponent = () =>
  buildWat(
    sensorWat({
      strings: S,
      onTick: `i32.const ${T.ptr('temp')} i32.const ${T.len('temp')} f64.const 21.5 i32.const 32 call $publish
        i32.const ${T.ptr('hum')} i32.const ${T.len('hum')} f64.const 40 i32.const 32 call $publish
        i32.const ${T.ptr('secret')} i32.const ${T.len('secret')} f64.const 1 i32.const 32 call $publish ${OK}`,
    }),
  );
/** `crasher`: traps on every tick. */
export const crasherComponent = () => buildWat(sensorWat({ onTick: 'unreachable' }));

export interface Built {
  name: string;
  wasm: string;
  manifest: Record<string, unknown>;
}

export async function buildAll(dir: string, list: Array<{ name: string; bytes: Uint8Array; manifest: Record<string, unknown> }>): Promise<{ built: Built[]; warmCache: string }> {
  const warmCache = join(dir, 'warm-cache');
  const engine = new Engine({ cacheDir: warmCache });
  const built: Built[] = [];
  for (const c of list) {
    const wasm = join(dir, `${c.name}.wasm`);
    await writeFile(wasm, c.bytes);
    await engine.prepare(c.bytes, { memoryMb: 16 });
    built.push({ name: c.name, wasm, manifest: c.manifest });
  }
  return { built, warmCache };
}

export async function writeConfig(o: { dir: string; name: string; brokerUrl: string; components: Built[]; warmCache: string; extra?: Record<string, unknown>; dataDir?: string }): Promise<{ config: string; dataDir: string }> {
  const dataDir = o.dataDir ?? join(o.dir, o.name, 'var');
  await mkdir(dataDir, { recursive: true });
  await mkdir(join(o.dir, o.name), { recursive: true });
  await cp(o.warmCache, join(dataDir, 'cache'), { recursive: true, force: false, errorOnExist: false });
  const raw = {
    gateway: { id: GATEWAY_ID, 'data-dir': dataDir },
    mqtt: { url: o.brokerUrl },
    board: 'sim',
    policy: { roles: { all: { telemetry: ['temperature', 'humidity'] } }, components: Object.fromEntries(o.components.map((c) => [c.name, ['all']])) },
    components: o.components.map((c) => ({ source: c.wasm, manifest: c.manifest })),
    telemetry: { 'health-interval-ms': 500 },
    log: { level: 'info' },
    ...o.extra,
  };
  const config = join(o.dir, o.name, `gateway-${Math.random().toString(16).slice(2, 8)}.yaml`);
  await writeFile(config, toYaml(raw));
  return { config, dataDir };
}

export interface Gw {
  child: ChildProcess;
  output: () => string;
  stop: () => Promise<void>;
}

const children = new Set<ChildProcess>();
/** For afterAll: nothing outlives the test file. */
export function killAll(): void {
  for (const c of children) c.kill('SIGKILL');
}

export async function launch(config: string, gatewayId = GATEWAY_ID): Promise<Gw> {
  const child = spawn(process.execPath, ['bin/airssys.mjs', 'start', '--config', config], { env: { ...process.env, AIRSSYS_FROM_SOURCE: '1' }, stdio: ['ignore', 'pipe', 'pipe'] });
  children.add(child);
  child.once('exit', () => children.delete(child));
  let out = '';
  child.stdout!.on('data', (d) => (out += d));
  child.stderr!.on('data', (d) => (out += d));
  await until(() => out.includes(`${gatewayId} running`) || child.exitCode !== null, 60_000, `the gateway to start; output: ${out}`);
  if (child.exitCode !== null) throw new Error(`the gateway exited (${child.exitCode}): ${out}`);
  return {
    child,
    output: () => out,
    stop: async () => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      await exited;
    },
  };
}
