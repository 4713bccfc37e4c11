import { mkdtemp, writeFile } from 'node:fs/promises';
import { spawn, type ChildProcess } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify as toYaml } from 'yaml';
import { buildWat } from '../../runtime/build/wat.js';
import { cli, BIN } from '../helpers/cli.js';
import { OK, sensorWat } from '../helpers/sensor-wat.js';
import { writeKeys, writeRelease } from '../ota-e2e/helpers.js';

/**
 * Shared by the fleet tests and bench/fleet.bench.ts: a small component ("beacon") that does nothing
 * on a tick, or traps on every tick (the release that crashes in probation); a gateway template for
 * `airssys fleet-sim` running beacon 1.0.0; signed releases; and fleet-sim as a real child process.
 */
export const COMPONENT = 'beacon';
export const TEMPLATE_ID = 'sim';

/** `marker` only makes two good builds differ (a release is identified by its bytes). */
export function beaconWat(o: { trap?: boolean; marker?: number }): string {
  return sensorWat({ extra: `(global $marker i32 (i32.const ${o.marker ?? 0}))`, onTick: o.trap ? 'unreachable' : OK });
}

export function beaconManifest(version: string, tickMs: number): Record<string, unknown> {
  return { name: COMPONENT, version, 'tick-ms': tickMs, capabilities: {}, limits: { 'memory-mb': 1 } };
}

export interface FleetFixture {
  dir: string;
  template: string;
  /** Signed releases: beacon 1.1.0 (good), 1.2.0 (traps on every tick), 1.3.0 (good). */
  good: string;
  crashing: string;
  good2: string;
}

/** Keys, beacon 1.0.0 in the template, and two signed releases, in a fresh temp folder. */
export async function fleetFixture(o: { url: string; probationMs: number; tickMs?: number; logLevel?: string; extra?: Record<string, unknown> }): Promise<FleetFixture> {
  const dir = await mkdtemp(join(tmpdir(), 'airssys-fleet-'));
  const tickMs = o.tickMs ?? 200;
  const keys = await writeKeys(dir, 'ota');
  const v1 = await writeRelease(dir, 'beacon-1.0.0', await buildWat(beaconWat({})), beaconManifest('1.0.0', tickMs));
  const good = await writeRelease(dir, 'beacon-1.1.0', await buildWat(beaconWat({ marker: 1 })), beaconManifest('1.1.0', tickMs));
  const good2 = await writeRelease(dir, 'beacon-1.3.0', await buildWat(beaconWat({ marker: 3 })), beaconManifest('1.3.0', tickMs));
  const bad = await writeRelease(dir, 'beacon-1.2.0', await buildWat(beaconWat({ trap: true })), beaconManifest('1.2.0', tickMs));
  const template = join(dir, 'template.yaml');
  await writeFile(
    template,
    toYaml({
      gateway: { id: TEMPLATE_ID, 'data-dir': join(dir, 'var'), groups: ['lab'] },
      mqtt: { url: o.url },
      board: 'sim',
      // Probation shortened: a rollout wave lasts about as long as its probation.
      ota: { 'trusted-keys': [keys.pub], threshold: 1, 'probation-ms': o.probationMs, 'chunk-timeout-ms': 5000 },
      policy: { roles: {}, components: {} },
      components: [{ source: v1.wasm, manifest: v1.yaml }],
      log: { level: o.logLevel ?? 'warn' },
      ...o.extra,
    }),
  );
  const sign = async (r: { wasm: string; yaml: string }, out: string) => {
    const res = await cli(['sign', r.wasm, '--manifest', r.yaml, '--key', keys.key, '-o', out]);
    if (res.code !== 0) throw new Error(`sign failed: ${res.err.join('\n')}`);
    return out;
  };
  return { dir, template, good: await sign(good, join(dir, 'beacon-1.1.0.json')), crashing: await sign(bad, join(dir, 'beacon-1.2.0.json')), good2: await sign(good2, join(dir, 'beacon-1.3.0.json')) };
}

/** `airssys fleet-sim` as a real child process; resolves once it printed `ready N`. */
export class FleetSim {
  stdout = '';
  stderr = '';
  private constructor(readonly proc: ChildProcess) {}

  static async start(template: string, n: number, opts: { timeoutMs?: number; nodeArgs?: string[] } = {}): Promise<FleetSim> {
    const proc = spawn(process.execPath, [...(opts.nodeArgs ?? []), BIN, 'fleet-sim', '--config', template, '--gateways', String(n)], {
      env: { ...process.env, AIRSSYS_FROM_SOURCE: '1' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const sim = new FleetSim(proc);
    proc.stdout!.on('data', (d) => (sim.stdout += d));
    proc.stderr!.on('data', (d) => (sim.stderr += d));
    const deadline = Date.now() + (opts.timeoutMs ?? 120_000);
    while (!sim.stdout.includes(`ready ${n}\n`)) {
      if (proc.exitCode !== null) throw new Error(`fleet-sim exited ${proc.exitCode}: ${sim.stderr.slice(-2000)}`);
      if (Date.now() > deadline) throw new Error(`fleet-sim not ready: ${sim.stderr.slice(-2000)}`);
      await new Promise((r) => setTimeout(r, 50));
    }
    return sim;
  }

  /** SIGTERM; resolves with the exit code. */
  async stop(): Promise<number | null> {
    if (this.proc.exitCode !== null) return this.proc.exitCode;
    const exited = new Promise<number | null>((r) => this.proc.once('exit', (code) => r(code)));
    this.proc.kill('SIGTERM');
    return exited;
  }
}
