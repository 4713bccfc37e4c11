import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mqtt, { type MqttClient } from 'mqtt';
import type { Manifest } from '../../runtime/manifest.js';
import type { Activation, OtaHost } from '../../gateway/ota/updater.js';
import { OtaError } from '../../gateway/ota/reasons.js';

export const tmp = (name = 'ota') => mkdtempSync(join(tmpdir(), `airssys-${name}-`));

import { freePort } from '../helpers/mosquitto.js';

export { freePort };

export interface Broker {
  url: string;
  port: number;
  stop(): Promise<void>;
  /** Starts it again on the same port (after stop), for outage tests. */
  restart(): Promise<void>;
}

/** A real Mosquitto on a free loopback port, with retained messages kept in memory. */
export async function startMosquitto(): Promise<Broker> {
  const port = await freePort();
  const dir = tmp('mosq');
  const conf = join(dir, 'mosquitto.conf');
  writeFileSync(conf, `listener ${port} 127.0.0.1\nallow_anonymous true\npersistence false\n`);
  let proc: ChildProcess | undefined;
  const launch = async () => {
    proc = spawn('mosquitto', ['-c', conf], { stdio: 'ignore' });
    for (let i = 0; i < 100; i++) {
      try {
        const c = await mqtt.connectAsync(`mqtt://127.0.0.1:${port}`, { reconnectPeriod: 0, connectTimeout: 500 });
        await c.endAsync();
        return;
      } catch {
        await new Promise((r) => setTimeout(r, 50));
      }
    }
    throw new Error('mosquitto did not start');
  };
  const stop = async () => {
    const p = proc;
    proc = undefined;
    if (!p || p.exitCode !== null) return;
    await new Promise<void>((r) => {
      p.once('exit', () => r());
      p.kill('SIGTERM');
    });
  };
  await launch();
  return { url: `mqtt://127.0.0.1:${port}`, port, stop, restart: launch };
}

export async function client(url: string, opts: mqtt.IClientOptions = {}): Promise<MqttClient> {
  return mqtt.connectAsync(url, { reconnectPeriod: 200, ...opts });
}

/** Collects messages on a filter; `next(pred)` waits for the first matching one (past or future). */
export class Watcher {
  readonly messages: { topic: string; payload: Buffer; retain: boolean }[] = [];
  private waiters: (() => void)[] = [];
  constructor(readonly c: MqttClient) {
    c.on('message', (topic, payload, packet) => {
      this.messages.push({ topic, payload, retain: packet.retain });
      for (const w of this.waiters.splice(0)) w();
    });
  }
  static async on(url: string, filter: string): Promise<Watcher> {
    const c = await client(url);
    const w = new Watcher(c);
    await c.subscribeAsync(filter, { qos: 1 });
    return w;
  }
  json(): { topic: string; body: Record<string, unknown> }[] {
    return this.messages.filter((m) => m.payload.length).map((m) => ({ topic: m.topic, body: JSON.parse(m.payload.toString()) as Record<string, unknown> }));
  }
  async next(pred: (m: { topic: string; body: Record<string, unknown> }) => boolean, timeoutMs = 20_000): Promise<Record<string, unknown>> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const hit = this.json().find(pred);
      if (hit) return hit.body;
      if (Date.now() > deadline) throw new Error(`timed out; saw ${JSON.stringify(this.json().map((m) => m.body))}`);
      await new Promise<void>((r) => {
        this.waiters.push(r);
        setTimeout(r, 100);
      });
    }
  }
  async close(): Promise<void> {
    await this.c.endAsync();
  }
}

export interface FakeActivation extends Activation {
  crash(reason: string): void;
  errors: number;
  rolledBack: boolean;
}

/** An OtaHost that records what happened; behaviour per version is scripted by the test. */
export class FakeHost implements OtaHost {
  readonly running = new Map<string, string>();
  readonly calls: string[] = [];
  validateFails = new Map<string, Error>();
  initFails = new Set<string>();
  violations: (m: Manifest) => string[] = () => [];
  activations: FakeActivation[] = [];
  constructor(initial: Record<string, string> = {}) {
    for (const [k, v] of Object.entries(initial)) this.running.set(k, v);
  }
  currentVersion(component: string): string | undefined {
    return this.running.get(component);
  }
  checkCapabilities(manifest: Manifest): string[] {
    return this.violations(manifest);
  }
  async validate(bytes: Uint8Array, manifest: Manifest): Promise<void> {
    this.calls.push(`validate ${manifest.name} ${manifest.version} ${bytes.length}`);
    const e = this.validateFails.get(manifest.version);
    if (e) throw e;
  }
  async activate(component: string, manifest: Manifest, bytes: Uint8Array): Promise<Activation> {
    this.calls.push(`activate ${component} ${manifest.version} ${bytes.length}`);
    if (this.initFails.has(manifest.version)) throw new OtaError('init-failed', `init of ${component} ${manifest.version} returned err("no sensor")`);
    const old = this.running.get(component);
    this.running.set(component, manifest.version);
    const cbs: ((r: string) => void)[] = [];
    const host = this;
    const act: FakeActivation = {
      errors: 0,
      rolledBack: false,
      onCrash: (cb) => cbs.push(cb),
      errorCount: () => act.errors,
      crash: (reason) => cbs.forEach((cb) => cb(reason)),
      async rollback() {
        act.rolledBack = true;
        host.calls.push(`rollback ${component} ${manifest.version}`);
        if (old === undefined) host.running.delete(component);
        else host.running.set(component, old);
      },
    };
    this.activations.push(act);
    return act;
  }
}

import { createHash, type KeyObject } from 'node:crypto';
import { generateKeyPair, loadPrivateKey, signManifest } from '../../gateway/ota/keys.js';
import { buildReleaseManifest } from '../../gateway/ota/release.js';
import type { ReleaseManifest } from '../../gateway/ota/envelope.js';

export function newKey(): { priv: KeyObject; pub: KeyObject; keyid: string } {
  const pair = generateKeyPair();
  const priv = loadPrivateKey(pair.privateKeyPem);
  return { priv, pub: createPublicKeyOf(priv), keyid: pair.keyid };
}

import { createPublicKey } from 'node:crypto';
const createPublicKeyOf = (k: KeyObject) => createPublicKey(k);

/** Deterministic fake component bytes for a version (not a real component: the host is faked). */
export function fakeComponent(version: string, size = 3000): Uint8Array {
  const out = Buffer.alloc(size);
  let h = createHash('sha256').update(version).digest();
  for (let i = 0; i < size; i += 32) {
    h.copy(out, i, 0, Math.min(32, size - i));
    h = createHash('sha256').update(h).digest();
  }
  return new Uint8Array(out);
}

export interface ReleaseFixture {
  manifest: ReleaseManifest;
  bytes: Uint8Array;
  payload: Buffer;
}

/** A signed release; `edit` may change the manifest before signing, `after` the envelope after. */
export function makeRelease(opts: {
  version: string;
  keys: KeyObject[];
  component?: string;
  size?: number;
  chunkSize?: number;
  bytes?: Uint8Array;
  capabilities?: Record<string, unknown>;
  edit?: (m: ReleaseManifest) => void;
  after?: (env: { manifest: ReleaseManifest; signatures: { keyid: string; sig: string }[] }) => void;
}): ReleaseFixture {
  const bytes = opts.bytes ?? fakeComponent(opts.version, opts.size);
  const manifest = buildReleaseManifest({
    bytes,
    manifest: { name: opts.component ?? 'thermo', version: opts.version, 'tick-ms': 1000, capabilities: opts.capabilities ?? { telemetry: ['temp'] }, limits: { 'memory-mb': 16 } },
    chunkSize: opts.chunkSize ?? 1024,
  });
  opts.edit?.(manifest);
  const env = { manifest, signatures: opts.keys.map((k) => signManifest(manifest, k)) };
  opts.after?.(env);
  return { manifest, bytes, payload: Buffer.from(JSON.stringify(env)) };
}
