import { spawn, type ChildProcess } from 'node:child_process';
import { cp, mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { stringify as toYaml } from 'yaml';
import { Engine } from '../../runtime/engine.js';
import { GATEWAY_ID, gatewayConfig, until } from '../ota-e2e/helpers.js';

/**
 * The real gateway process (`airssys start --config FILE`, from source) for the hardening tests:
 * launched, watched through its output, stopped cleanly or SIGKILLed. Every child is tracked so a
 * failing test leaves no gateway running (`killAll` in afterAll).
 */
const children = new Set<ChildProcess>();

export interface Gw {
  child: ChildProcess;
  output: () => string;
  /** Resolves with the exit code (null when killed by a signal). */
  exited: Promise<number | null>;
  /** Waits for the "running" line; throws with the output if the process exits first. */
  running: (timeoutMs?: number) => Promise<void>;
}

export function launch(config: string, env: NodeJS.ProcessEnv = {}): Gw {
  const e: NodeJS.ProcessEnv = { ...process.env, AIRSSYS_FROM_SOURCE: '1', ...env };
  delete e.AIRSSYS_OTA_PAUSE_AT;
  if (env.AIRSSYS_OTA_PAUSE_AT) e.AIRSSYS_OTA_PAUSE_AT = env.AIRSSYS_OTA_PAUSE_AT;
  const child = spawn(process.execPath, ['bin/airssys.mjs', 'start', '--config', config], { env: e, stdio: ['ignore', 'pipe', 'pipe'] });
  children.add(child);
  let out = '';
  child.stdout!.on('data', (d) => (out += d));
  child.stderr!.on('data', (d) => (out += d));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => {
    children.delete(child);
    resolve(code);
  }));
  const output = () => out;
  return {
    child,
    output,
    exited,
    running: (timeoutMs = 60_000) =>
      until(() => out.includes(`${GATEWAY_ID} running`) || child.exitCode !== null, timeoutMs, `the gateway to start; output: ${out}`).then(() => {
        if (child.exitCode !== null) throw new Error(`the gateway exited (${child.exitCode}): ${out}`);
      }),
  };
}

export async function signal(child: ChildProcess, sig: 'SIGKILL' | 'SIGTERM'): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((r) => child.once('exit', r));
  child.kill(sig);
  await exited;
}

export function killAll(): void {
  for (const c of children) c.kill('SIGKILL');
}

/** A compile cache holding these components, copied into each data dir: tests are about the store, not jco's speed. */
export async function warmCache(dir: string, components: Uint8Array[]): Promise<string> {
  const cache = join(dir, 'warm-cache');
  const engine = new Engine({ cacheDir: cache });
  for (const c of components) await engine.prepare(c, { memoryMb: 16 });
  return cache;
}

export interface Setup {
  config: string;
  dataDir: string;
  prefix: string;
}

/** A gateway config (the OTA e2e one: component `meter`, trusted key `pub`) in dir/name, data dir seeded with `cache`. */
export async function setupGateway(dir: string, name: string, o: { url: string; pub: string; cache?: string; components: unknown[]; probationMs?: number; dataDir?: string; maxArtifactBytes?: number; extra?: Record<string, unknown> }): Promise<Setup> {
  const prefix = `hard-${name}`;
  const dataDir = o.dataDir ?? join(dir, name, 'var');
  await mkdir(dataDir, { recursive: true });
  if (o.cache) await cp(o.cache, join(dataDir, 'cache'), { recursive: true });
  const config = join(dir, name, 'gateway.yaml');
  await mkdir(join(dir, name), { recursive: true });
  const raw = { ...gatewayConfig({ url: o.url, dataDir, pub: o.pub, prefix, probationMs: o.probationMs ?? 1000, components: o.components, ...(o.maxArtifactBytes ? { maxArtifactBytes: o.maxArtifactBytes } : {}) }), ...(o.extra ?? {}) };
  await writeFile(config, toYaml(raw));
  return { config, dataDir, prefix };
}

/** Lines of the output that look like a stack trace. */
export const stackLines = (out: string) => out.split('\n').filter((l) => /^\s+at /.test(l));
