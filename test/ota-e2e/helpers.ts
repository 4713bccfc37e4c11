import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import mqtt, { type MqttClient } from 'mqtt';
import { stringify as toYaml } from 'yaml';
import { buildWat } from '../../runtime/build/wat.js';
import { main } from '../../gateway/cli/main.js';
import type { CliIo } from '../../gateway/cli/io.js';
import { artifactTopic } from '../../gateway/ota/chunks.js';
import { sha256Hex } from '../../gateway/ota/envelope.js';
import { generateKeyPair } from '../../gateway/ota/keys.js';
import { FINAL_PHASES } from '../../gateway/ota/reasons.js';
import { errWith, OK, sensorWat, strings } from '../helpers/sensor-wat.js';

/**
 * Shared by the OTA end-to-end tests and bench/ota.bench.ts: a real component ("meter") that
 * publishes its version marker on channel `level` every tick, the files an operator would have
 * (keys, manifest YAML, .wasm), the gateway config for it, and an MQTT observer that keeps
 * telemetry, component state and OTA status apart.
 */
export const COMPONENT = 'meter';
export const CHANNEL = 'level';
export const GATEWAY_ID = 'gw-e2e';
export const TICK_MS = 20;

const S = { ch: CHANNEL, bad: 'no sensor attached' };
const T = strings(S);

export interface MeterOptions {
  /** 0-9, published with every tick's now-ms (see sample `marker`): tells which version served it. */
  marker: number;
  /** init returns err("no sensor attached"). */
  initErr?: boolean;
  /** Traps (`unreachable`) on this tick (1-based, counted per instance), after publishing it. */
  trapAtTick?: number;
}

export function meterWat(o: MeterOptions): string {
  // value = now-ms * 10 + marker: exact in an f64, and names both the tick event and the version that served it.
  const publish = `i32.const ${T.ptr('ch')} i32.const ${T.len('ch')} local.get $now f64.convert_i64_u f64.const 10 f64.mul f64.const ${o.marker} f64.add i32.const 32 call $publish`;
  const trap = o.trapAtTick ? `global.get $ticks i32.const 1 i32.add global.set $ticks (if (i32.eq (global.get $ticks) (i32.const ${o.trapAtTick})) (then unreachable))` : '';
  return sensorWat({
    strings: S,
    extra: '(global $ticks (mut i32) (i32.const 0))',
    init: o.initErr ? errWith(T.ptr('bad'), T.len('bad')) : OK,
    onTick: `${trap} ${publish} ${OK}`,
  });
}

export const buildMeter = (o: MeterOptions): Promise<Uint8Array> => buildWat(meterWat(o));

export function meterManifest(version: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { name: COMPONENT, version, 'tick-ms': TICK_MS, capabilities: { telemetry: [CHANNEL] }, limits: { 'memory-mb': 16 }, ...extra };
}

/** `meter` and `gauge` (a component no config lists, installed by OTA only) may publish `level`. */
export const POLICY = { roles: { metering: { telemetry: [CHANNEL] } }, components: { [COMPONENT]: ['metering'], gauge: ['metering'] } };

/** Writes NAME.wasm and NAME.yaml into dir; returns their paths. */
export async function writeRelease(dir: string, name: string, bytes: Uint8Array, manifest: Record<string, unknown>): Promise<{ wasm: string; yaml: string }> {
  const wasm = join(dir, `${name}.wasm`);
  const yaml = join(dir, `${name}.yaml`);
  await writeFile(wasm, bytes);
  await writeFile(yaml, toYaml(manifest));
  return { wasm, yaml };
}

export async function writeKeys(dir: string, name: string): Promise<{ key: string; pub: string; keyid: string }> {
  const pair = generateKeyPair();
  const key = join(dir, `${name}.key`);
  const pub = join(dir, `${name}.pub`);
  await writeFile(key, pair.privateKeyPem, { mode: 0o600 });
  await writeFile(pub, pair.publicKeyPem);
  return { key, pub, keyid: pair.keyid };
}

/** The raw config (as the YAML would hold it) of a gateway running on `url`. */
export function gatewayConfig(o: { url: string; dataDir: string; pub: string; probationMs?: number; components?: unknown[]; maxArtifactBytes?: number; prefix?: string }): Record<string, unknown> {
  return {
    gateway: { id: GATEWAY_ID, 'data-dir': o.dataDir, groups: ['lab'] },
    mqtt: { url: o.url, 'topic-prefix': o.prefix ?? 'airssys' },
    board: 'sim',
    ota: { 'trusted-keys': [o.pub], threshold: 1, 'probation-ms': o.probationMs ?? 2000, 'chunk-timeout-ms': 2000, 'max-artifact-bytes': o.maxArtifactBytes ?? 1_000_000 },
    policy: POLICY,
    components: o.components ?? [],
    telemetry: { 'health-interval-ms': 500 },
    log: { level: 'warn' },
  };
}

/** `airssys push` in-process; resolves with its exit code and what it wrote. */
export async function cliPush(args: string[]): Promise<{ code: number; out: string[]; err: string[] }> {
  const out: string[] = [];
  const err: string[] = [];
  const io: CliIo = { out: (l) => out.push(l), err: (l) => err.push(l) };
  const code = await main(['push', ...args], io);
  return { code, out, err };
}

export interface Sample {
  seq: number;
  /** The jump this sample announces after an unclean stop (contract 7.4). */
  skipped?: [number, number] | undefined;
  /** The version marker of the component that served the tick. */
  value: number;
  /** The tick event's now-ms: one tick event, one sample. */
  tick: number;
  ts: number;
  /** When this process received it (performance.now()). */
  at: number;
}

export interface Status {
  version: string;
  phase: string;
  reason: string;
  detail: string;
  envelope: string;
  retained: boolean;
}

/** Watches one gateway's topics; keeps telemetry samples, component states and OTA statuses. */
export class GatewayWatch {
  readonly samples: Sample[] = [];
  readonly states: Array<Record<string, unknown>> = [];
  readonly statuses: Status[] = [];
  private constructor(readonly client: MqttClient, private readonly prefix: string) {}

  static async start(url: string, prefix = 'airssys'): Promise<GatewayWatch> {
    const client = await mqtt.connectAsync(url, { reconnectPeriod: 100, clientId: `watch-${Math.random().toString(16).slice(2)}` });
    const w = new GatewayWatch(client, prefix);
    const base = `${prefix}/gw/${GATEWAY_ID}`;
    client.on('message', (topic, payload, packet) => {
      if (payload.length === 0) return;
      const body = JSON.parse(payload.toString()) as Record<string, unknown>;
      if (topic === `${base}/telemetry/${COMPONENT}/${CHANNEL}`) {
        const v = body.value as number;
        w.samples.push({ seq: body.seq as number, skipped: body.skipped as [number, number] | undefined, value: v % 10, tick: Math.floor(v / 10), ts: body.ts as number, at: performance.now() });
      }
      else if (topic === `${base}/components/${COMPONENT}/state`) w.states.push({ ...body, retained: packet.retain });
      else if (topic === `${base}/ota/${COMPONENT}/status`) w.statuses.push({ ...(body as unknown as Status), retained: packet.retain });
    });
    await client.subscribeAsync([`${base}/telemetry/${COMPONENT}/${CHANNEL}`, `${base}/components/${COMPONENT}/state`, `${base}/ota/${COMPONENT}/status`], { qos: 1 });
    return w;
  }

  /** Statuses about one envelope (by the SHA-256 of its bytes). */
  about(envelopeSha: string): Status[] {
    return this.statuses.filter((s) => s.envelope === envelopeSha);
  }

  /** The first final status about an envelope, among those received from index `since` on. */
  async final(envelopeSha: string, since = 0, timeoutMs = 20_000): Promise<Status> {
    const find = () => this.statuses.slice(since).find((s) => s.envelope === envelopeSha && FINAL_PHASES.includes(s.phase as never));
    await until(() => find() !== undefined, timeoutMs, `a final status for envelope ${envelopeSha.slice(0, 12)}; saw ${JSON.stringify(this.statuses.slice(-5))}`);
    return find()!;
  }

  /** Waits for `n` more samples than there are now; returns them. */
  async more(n: number, timeoutMs = 10_000): Promise<Sample[]> {
    const from = this.samples.length;
    await until(() => this.samples.length >= from + n, timeoutMs, `${n} more telemetry samples (have ${this.samples.length - from})`);
    return this.samples.slice(from);
  }

  async stop(): Promise<void> {
    await this.client.endAsync(true);
  }
}

/** Publishes chunks (retained) then the envelope, like `push` but for hand-made or hostile releases. Returns the envelope's SHA-256. */
export async function publishRaw(client: MqttClient, o: { envelope: string | Buffer; bytes?: Uint8Array; sha256?: string; chunkSize?: number; prefix?: string; topic?: string }): Promise<string> {
  const prefix = o.prefix ?? 'airssys';
  if (o.bytes && o.sha256) {
    const size = o.chunkSize ?? 65536;
    for (let i = 0; i * size < o.bytes.length; i++) {
      await client.publishAsync(artifactTopic(prefix, o.sha256, i), Buffer.from(o.bytes.subarray(i * size, (i + 1) * size)), { qos: 1, retain: true });
    }
  }
  const payload = typeof o.envelope === 'string' ? Buffer.from(o.envelope) : o.envelope;
  await client.publishAsync(o.topic ?? `${prefix}/gw/${GATEWAY_ID}/ota/${COMPONENT}`, payload, { qos: 1, retain: true });
  return sha256Hex(payload);
}

/**
 * Seq must rise by exactly one per sample (no gap, no duplicate), and each tick event must have
 * been served once (no tick delivered to both the old and the new version).
 */
export function seqProblems(samples: Sample[]): string[] {
  const out: string[] = [];
  const ticks = new Map<number, number>();
  for (let i = 0; i < samples.length; i++) {
    const s = samples[i]!;
    if (i > 0 && s.seq !== samples[i - 1]!.seq + 1) out.push(`seq ${s.seq} after ${samples[i - 1]!.seq}`);
    const other = ticks.get(s.tick);
    if (other !== undefined) out.push(`tick ${s.tick} served twice (seq ${other} and ${s.seq})`);
    ticks.set(s.tick, s.seq);
  }
  return out;
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export async function until(cond: () => boolean, timeoutMs = 20_000, what = 'condition'): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(10);
  }
}
