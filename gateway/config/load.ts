import { existsSync, readFileSync, statSync } from 'node:fs';
import { hostname as osHostname } from 'node:os';
import { dirname, isAbsolute, resolve } from 'node:path';
import { clip } from '../../runtime/echo.js';
import { GatewayError } from '../../runtime/errors.js';
import { parseManifest, type Manifest } from '../../runtime/manifest.js';
import { parsePolicy as parseDriverPolicy, type Policy } from '../../drivers/policy/policy.js';
import { bytes, integer, isObj, join, list, listed, mapping, millis, oneOf, Problems, show, string, type Obj } from './check.js';
import { parseHomeAssistantConfig, parseMetricsConfig } from '../extensions/config.js';
import { parseUiConfig } from '../extensions/ui/config.js';
import { parseCommands } from '../commands/config.js';
import { isLoopbackHost } from '../mqtt/loopback.js';
import { parseYamlText } from './yaml.js';
import type { BoardConfig, ComponentConfig, GatewayConfig, LogLevel, MqttConfig, OtaConfig, StorageConfig, TelemetryConfig } from './types.js';
import { LOG_LEVELS } from '../../runtime/host-api-types.js';
import { DEFAULT_PROBATION_MS } from '../ota/updater.js';
import { parseRateLimits, type RateLimits } from '../../drivers/pipeline/rate-limit.js';

/**
 * Loads and validates the gateway YAML (contract section 3). Every mistake is one line naming the
 * key path and the fix; any mistake at all means no config (the gateway never starts half-configured).
 */

export class ConfigError extends GatewayError {
  readonly problems: string[];
  constructor(problems: string[]) {
    // A fuzzed file can hold thousands of mistakes; the first 20 say enough to start fixing.
    super('INVALID_CONFIG', (problems.length > 20 ? [...problems.slice(0, 20), `config: and ${problems.length - 20} more problems`] : problems).join('\n'));
    this.problems = problems;
  }
}

export interface LoadOptions {
  /** Environment for AIRSSYS_MQTT_URL / _USERNAME / _PASSWORD (default process.env). */
  env?: Record<string, string | undefined>;
  /** Default gateway.id (default: this machine's hostname). */
  hostname?: string;
}

export interface ParseOptions extends LoadOptions {
  /** Folder relative paths are resolved against (the config file's folder). */
  baseDir: string;
  /** For messages and `GatewayConfig.file`. */
  file?: string;
}

export const DEFAULTS = {
  dataDir: './var',
  topicPrefix: 'airssys',
  embeddedPort: 1883,
  embeddedHost: '127.0.0.1',
  keepaliveS: 30,
  threshold: 1,
  maxArtifactBytes: 33_554_432,
  probationMs: DEFAULT_PROBATION_MS,
  chunkTimeoutMs: 30_000,
  outboxMaxBytes: 64 * 1024 * 1024,
  outboxMaxAgeMs: 7 * 86_400_000,
  inflightWindow: 100,
  healthIntervalMs: 30_000,
  commitIntervalMs: 1000,
  storageFlushMs: 10_000,
  memoryMaxBytes: 4 * 1024 * 1024,
} as const;

export function loadConfig(file: string, options: LoadOptions = {}): GatewayConfig {
  const abs = resolve(file);
  let text: string;
  try {
    text = readFileSync(abs, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? 'unreadable';
    throw new ConfigError([`config ${file}: cannot read the file (${code}); check the path or pass --config FILE`]);
  }
  const parsed = parseYamlText(text, file);
  if (parsed.problems.length > 0) throw new ConfigError(parsed.problems.map((line) => `config ${line}`));
  return parseConfig(parsed.value, { ...options, baseDir: dirname(abs), file: abs });
}

const ID_RE = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;
const ID_FIX = 'use letters, digits, _ . - (at most 64; no / + # or spaces)';
const BROKER_FIX = 'use mqtt://host:1883, mqtts://host:8883, ws://…, wss://…, or "embedded"';

/** Validates an already-parsed config object. Throws ConfigError listing every problem. */
export function parseConfig(raw: unknown, options: ParseOptions): GatewayConfig {
  const p = new Problems();
  const env = options.env ?? process.env;
  const base = options.baseDir;
  if (raw === undefined || raw === null) raw = {};
  const root = mapping(p, raw, '', ['gateway', 'mqtt', 'board', 'ota', 'policy', 'rate-limits', 'components', 'telemetry', 'storage', 'log', 'commands', 'metrics', 'homeassistant', 'ui'], 'the file holds keys gateway, mqtt, board, ota, policy, components, telemetry');
  const r: Obj = root ?? {};

  // The path is relative to the config file, so the same config works from any working directory.
  const path = (v: string) => (isAbsolute(v) ? v : resolve(base, v));
  const mustExist = (v: string | undefined, at: string, what: string): string | undefined => {
    if (v === undefined) return undefined;
    const abs = path(v);
    if (!existsSync(abs)) p.add(at, `${what} ${show(v)} not found (looked at ${abs})`, 'check the path; relative paths start at the config file\'s folder');
    else if (!statSync(abs).isFile()) p.add(at, `${show(v)} is not a file`, 'point it at a file');
    return abs;
  };

  // gateway
  const g = mapping(p, r.gateway, 'gateway', ['id', 'data-dir', 'groups'], 'write e.g. { id: gw-1, data-dir: ./var, groups: [lab] }') ?? {};
  const host = sanitizeId(options.hostname ?? osHostname());
  const id = string(p, g.id, 'gateway.id', host);
  if (!ID_RE.test(id)) p.add('gateway.id', `${show(id)} is not a valid gateway id`, ID_FIX);
  const dataDir = path(string(p, g['data-dir'], 'gateway.data-dir', DEFAULTS.dataDir));
  const groups = list(p, g.groups, 'gateway.groups', 'write it as [lab, floor-2]').map((v, i) => {
    const s = string(p, v, `gateway.groups[${i}]`, '');
    if (s && !ID_RE.test(s)) p.add(`gateway.groups[${i}]`, `${show(s)} is not a valid group name`, ID_FIX);
    return s;
  });

  const mqtt = parseMqtt(p, r.mqtt, env, mustExist);
  const board = parseBoard(p, r.board);
  const ota = parseOta(p, r.ota, mustExist);
  const policyKey = parsePolicy(p, r.policy);
  const rateLimits = parseRateLimitsKey(p, r['rate-limits']);
  const components = parseComponents(p, r.components, path, mustExist);
  const telemetry = parseTelemetry(p, r.telemetry);
  const storage = parseStorage(p, r.storage);
  const lg = mapping(p, r.log, 'log', ['level'], 'write e.g. { level: info }') ?? {};
  const log = { level: oneOf<LogLevel>(p, lg.level, 'log.level', 'info', LOG_LEVELS) };
  const metrics = parseMetricsConfig(p, r.metrics);
  const homeassistant = parseHomeAssistantConfig(p, r.homeassistant);
  const ui = parseUiConfig(p, r.ui);
  const commands = parseCommands(p, r.commands);

  // Cross-checks: only meaningful once each part is valid on its own.
  for (const [name, roles] of Object.entries(policyKey.components)) {
    roles.forEach((role, i) => {
      if (!policyKey.roleNames.includes(role)) p.add(join(join('policy.components', name), i), `role ${show(role)} is not defined`, `define it under policy.roles or use one of: ${listed(policyKey.roleNames)}`);
    });
  }
  const seen = new Map<string, number>();
  components.forEach((c, i) => {
    const prev = seen.get(c.manifest.name);
    if (prev !== undefined) p.add(`components[${i}].manifest.name`, `component ${show(c.manifest.name)} is already configured at components[${prev}]`, 'give each component a unique name');
    else seen.set(c.manifest.name, i);
  });
  if (ota.trustedKeys.length > 0 && ota.threshold > ota.trustedKeys.length) {
    p.add('ota.threshold', `needs ${ota.threshold} signatures but only ${ota.trustedKeys.length} trusted key(s) are listed`, 'lower the threshold or add keys to ota.trusted-keys');
  }

  if (p.count > 0) throw new ConfigError(p.lines);
  // No problems, so the driver parsed the role bodies (parsed is set); the role lists were checked
  // above, so they join it as they are. This is the gateway's one Policy: nothing parses it again.
  const policy: Policy = { ...policyKey.parsed!, components: new Map(Object.entries(policyKey.components)) };
  return { file: options.file, gateway: { id, dataDir, groups }, mqtt, board, ota, policy, rateLimits, components, telemetry, storage, log, commands, metrics, homeassistant, ui };
}

export function sanitizeId(name: string): string {
  const s = name.replace(/[^A-Za-z0-9_.-]/g, '-').replace(/^[^A-Za-z0-9]+/, '').slice(0, 64);
  return s || 'gateway';
}

type MustExist = (v: string | undefined, at: string, what: string) => string | undefined;

function parseMqtt(p: Problems, v: unknown, env: Record<string, string | undefined>, mustExist: MustExist): MqttConfig {
  const m = mapping(p, v, 'mqtt', ['url', 'embedded-port', 'embedded-host', 'topic-prefix', 'client-id', 'username', 'password', 'ca', 'cert', 'key', 'protocol', 'keepalive-s', 'fallback-urls'], 'write e.g. { url: mqtt://127.0.0.1:1883 }') ?? {};
  const fromEnv: string[] = [];
  // Environment wins over the file (secrets stay out of YAML); the path in messages says where it came from.
  const pick = (key: string, envName: string): { value: unknown; at: string } => {
    const e = env[envName];
    if (e !== undefined && e !== '') {
      fromEnv.push(key);
      return { value: e, at: `mqtt.${key} (from ${envName})` };
    }
    return { value: m[key], at: `mqtt.${key}` };
  };
  const u = pick('url', 'AIRSSYS_MQTT_URL');
  const url = string(p, u.value, u.at, 'embedded', BROKER_FIX);
  const embedded = url === 'embedded';
  if (!embedded && !isBrokerUrl(url)) p.add(u.at, `${show(url)} is not a broker URL`, BROKER_FIX);
  // Other nodes of the same broker cluster, tried in turn when the current one is lost (docs/fleet.md).
  const fallbackUrls = list(p, m['fallback-urls'], 'mqtt.fallback-urls', 'write it as [mqtt://node-2:1883, mqtt://node-3:1883]').map((v, i) => {
    const s = string(p, v, `mqtt.fallback-urls[${i}]`, '');
    if (s && !isBrokerUrl(s)) p.add(`mqtt.fallback-urls[${i}]`, `${show(s)} is not a broker URL`, 'use mqtt://host:port or mqtts://host:port of another node of the same broker cluster');
    return s;
  });
  if (embedded && fallbackUrls.length) p.add('mqtt.fallback-urls', 'fallback brokers with the embedded broker', 'remove mqtt.fallback-urls, or use an external broker cluster in mqtt.url');
  const user = pick('username', 'AIRSSYS_MQTT_USERNAME');
  const pass = pick('password', 'AIRSSYS_MQTT_PASSWORD');
  const username = string(p, user.value, user.at, undefined);
  const password = string(p, pass.value, pass.at, undefined);
  if (password !== undefined && username === undefined) p.add('mqtt.password', 'a password without a username', 'set mqtt.username (or AIRSSYS_MQTT_USERNAME) too');
  const topicPrefix = string(p, m['topic-prefix'], 'mqtt.topic-prefix', DEFAULTS.topicPrefix);
  if (/[+#]/.test(topicPrefix) || topicPrefix.startsWith('/') || topicPrefix.endsWith('/')) {
    p.add('mqtt.topic-prefix', `${show(topicPrefix)} is not a usable topic prefix`, 'use plain topic levels without + # or leading/trailing /, e.g. airssys or site-a/airssys');
  }
  const clientId = string(p, m['client-id'], 'mqtt.client-id', undefined);
  const ca = mustExist(string(p, m.ca, 'mqtt.ca', undefined), 'mqtt.ca', 'CA certificate');
  const cert = mustExist(string(p, m.cert, 'mqtt.cert', undefined), 'mqtt.cert', 'client certificate');
  const key = mustExist(string(p, m.key, 'mqtt.key', undefined), 'mqtt.key', 'client key');
  if ((cert === undefined) !== (key === undefined)) p.add(cert ? 'mqtt.key' : 'mqtt.cert', 'client certificates need both cert and key', 'set both mqtt.cert and mqtt.key, or neither');
  if ((ca || cert) && !embedded && /^(mqtt|tcp|ws):/.test(url)) p.add('mqtt.url', `${show(url)} is not encrypted but TLS files are set`, 'use mqtts:// or wss://, or remove mqtt.ca/cert/key');
  let protocol: 'auto' | 5 | 4 = 'auto';
  if (m.protocol !== undefined) {
    const pr = String(m.protocol);
    if (pr === 'auto') protocol = 'auto';
    else if (pr === '5' || pr === '5.0') protocol = 5;
    else if (pr === '3.1.1' || pr === '4') protocol = 4;
    else p.add('mqtt.protocol', `unknown protocol ${show(m.protocol)}`, 'use auto, 5 or "3.1.1"');
  }
  // Contract 7.4: beyond loopback the embedded broker needs an account (it becomes its only one).
  const embeddedHost = string(p, m['embedded-host'], 'mqtt.embedded-host', DEFAULTS.embeddedHost);
  if (embedded && !isLoopbackHost(embeddedHost) && (username === undefined || password === undefined)) {
    p.add('mqtt.embedded-host', `${show(embeddedHost)} opens the embedded broker to the network without an account`, 'set mqtt.username and mqtt.password (its only account), or remove embedded-host to listen on 127.0.0.1 only');
  }
  return {
    url,
    fallbackUrls,
    embedded,
    embeddedPort: integer(p, m['embedded-port'], 'mqtt.embedded-port', DEFAULTS.embeddedPort, 0, 65535),
    embeddedHost,
    topicPrefix,
    clientId,
    username,
    password,
    ca,
    cert,
    key,
    protocol,
    keepaliveS: integer(p, m['keepalive-s'], 'mqtt.keepalive-s', DEFAULTS.keepaliveS, 0, 65535),
    fromEnv,
  };
}

export function isBrokerUrl(url: string): boolean {
  try {
    const u = new URL(url);
    return ['mqtt:', 'mqtts:', 'tcp:', 'ssl:', 'tls:', 'ws:', 'wss:'].includes(u.protocol) && u.hostname.length > 0;
  } catch {
    return false;
  }
}

function parseBoard(p: Problems, v: unknown): BoardConfig {
  const kinds = ['sim', 'raspberry-pi'] as const;
  if (v === undefined || v === null) return { kind: 'sim', options: {} };
  if (typeof v === 'string') return { kind: oneOf(p, v, 'board', 'sim', kinds), options: {} };
  const b = mapping(p, v, 'board', ['kind', 'options'], 'write sim, raspberry-pi, or { kind: raspberry-pi, options: {…} }');
  if (!b) return { kind: 'sim', options: {} };
  if (b.kind === undefined) p.add('board.kind', 'missing', 'set kind: sim or kind: raspberry-pi');
  const options = b.options === undefined || b.options === null ? {} : isObj(b.options) ? b.options : (p.add('board.options', `expected a mapping, got ${show(b.options)}`, 'write options as key: value pairs'), {});
  return { kind: oneOf(p, b.kind, 'board.kind', 'sim', kinds), options };
}

function parseOta(p: Problems, v: unknown, mustExist: MustExist): OtaConfig {
  const o = mapping(p, v, 'ota', ['trusted-keys', 'threshold', 'max-artifact-bytes', 'probation-ms', 'chunk-timeout-ms'], 'write e.g. { trusted-keys: [keys/ota.pub], threshold: 1 }') ?? {};
  const trustedKeys = list(p, o['trusted-keys'], 'ota.trusted-keys', 'write it as [keys/ota.pub]').flatMap((k, i) => {
    const at = `ota.trusted-keys[${i}]`;
    const abs = mustExist(string(p, k, at, undefined), at, 'public key');
    return abs ? [abs] : [];
  });
  return {
    trustedKeys,
    threshold: integer(p, o.threshold, 'ota.threshold', DEFAULTS.threshold, 1, 64),
    maxArtifactBytes: bytes(p, o['max-artifact-bytes'], 'ota.max-artifact-bytes', DEFAULTS.maxArtifactBytes, 1),
    probationMs: millis(p, o['probation-ms'], 'ota.probation-ms', DEFAULTS.probationMs, 0),
    chunkTimeoutMs: millis(p, o['chunk-timeout-ms'], 'ota.chunk-timeout-ms', DEFAULTS.chunkTimeoutMs, 100),
  };
}

const NAME_RE = /^[a-z0-9][a-z0-9-]{0,63}$/;

/**
 * The `policy` key as checked here: the role names it defines and each component's role list (for
 * parseConfig's cross-check), and the driver's parse of the role bodies and default limits
 * (undefined when the key already has problems).
 */
interface PolicyKey {
  roleNames: string[];
  components: Record<string, string[]>;
  parsed: Policy | undefined;
}

function parsePolicy(p: Problems, v: unknown): PolicyKey {
  const start = p.count;
  const pol = mapping(p, v, 'policy', ['roles', 'components', 'default-limits'], 'write e.g. { roles: {…}, components: { thermo: [climate] } }') ?? {};
  const roles: Record<string, unknown> = {};
  if (pol.roles !== undefined && pol.roles !== null) {
    if (!isObj(pol.roles)) p.add('policy.roles', `expected a mapping of role name to grants, got ${show(pol.roles)}`, 'write e.g. { climate: { gpio: { read: [17] } } }');
    else for (const [name, body] of Object.entries(pol.roles)) {
      if (!isObj(body)) p.add(join('policy.roles', name), `expected a mapping of grants, got ${show(body)}`, 'write e.g. { gpio: { read: [17] }, telemetry: ["*"] }');
      // defineProperty: a role named __proto__ is a role, not the object's prototype.
      else Object.defineProperty(roles, name, { value: body, enumerable: true, writable: true, configurable: true });
    }
  }
  const components: Record<string, string[]> = {};
  if (pol.components !== undefined && pol.components !== null) {
    if (!isObj(pol.components)) p.add('policy.components', `expected a mapping of component name to roles, got ${show(pol.components)}`, 'write e.g. { thermo: [climate] }');
    else for (const [name, rs] of Object.entries(pol.components)) {
      const at = join('policy.components', name);
      if (!NAME_RE.test(name)) p.add(at, `${show(name)} is not a valid component name`, 'use lowercase letters, digits and -');
      const arr = typeof rs === 'string' ? [rs] : rs;
      components[name] = list(p, arr, at, 'write it as [role-a, role-b]').map((x, i) => string(p, x, join(at, i), ''));
    }
  }
  const body: Record<string, unknown> = { roles, components: {} };
  if (pol['default-limits'] !== undefined && pol['default-limits'] !== null) body['default-limits'] = pol['default-limits'];
  // The role bodies are interpreted by the driver layer, parsed here (the only call), so a bad role
  // or limit fails config validation (one line) instead of the gateway's start. Role references are
  // checked by parseConfig's cross-check, so they are left out here (no line twice).
  let parsed: Policy | undefined;
  if (p.count === start) {
    try {
      parsed = parseDriverPolicy(body);
    } catch (err) {
      p.lines.push((err as Error).message);
    }
  }
  return { roleNames: Object.keys(roles), components, parsed };
}

/** `rate-limits` (docs/drivers.md): per-class token buckets for host calls; the driver layer parses the body. */
function parseRateLimitsKey(p: Problems, v: unknown): RateLimits {
  try {
    return parseRateLimits(v);
  } catch (err) {
    p.lines.push((err as Error).message);
    return {};
  }
}

function parseComponents(p: Problems, v: unknown, path: (s: string) => string, mustExist: MustExist): ComponentConfig[] {
  const out: ComponentConfig[] = [];
  list(p, v, 'components', 'write it as a list of { source: x.wasm, manifest: x.yaml }').forEach((item, i) => {
    const at = `components[${i}]`;
    const c = mapping(p, item, at, ['source', 'manifest'], 'write { source: x.wasm, manifest: x.yaml }');
    if (!c) {
      if (item === undefined || item === null) p.add(at, 'empty entry', 'write { source: x.wasm, manifest: x.yaml } or remove the line');
      return;
    }
    if (c.source === undefined) p.add(`${at}.source`, 'missing', 'set source to the component .wasm file');
    const source = mustExist(string(p, c.source, `${at}.source`, undefined), `${at}.source`, 'component file');
    let raw: unknown = c.manifest;
    let manifestPath: string | undefined;
    const label = `${at}.manifest`;
    if (c.manifest === undefined) {
      p.add(label, 'missing', 'set manifest to a YAML file or write the manifest inline');
      return;
    }
    if (typeof c.manifest === 'string') {
      manifestPath = path(c.manifest);
      let text: string;
      try {
        text = readFileSync(manifestPath, 'utf8');
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code ?? 'unreadable';
        p.add(label, `cannot read ${show(c.manifest)} (${code}, looked at ${clip(manifestPath, 200)})`, 'check the path; relative paths start at the config file\'s folder');
        return;
      }
      const parsed = parseYamlText(text, clip(c.manifest, 200));
      if (parsed.problems.length > 0) {
        p.add(label, `${show(c.manifest)} is not usable YAML (${parsed.problems[0]})`, 'fix the manifest file');
        return;
      }
      raw = parsed.value;
    } else if (!isObj(c.manifest)) {
      p.add(label, `expected a file path or an inline manifest, got ${show(c.manifest)}`, 'write manifest: thermo.yaml or manifest: { name: thermo, version: 1.0.0, … }');
      return;
    }
    let manifest: Manifest;
    try {
      manifest = parseManifest(raw);
    } catch (err) {
      // parseManifest says `manifest <path>: problem; fix` — keep its path, prefix ours.
      const msg = (err as Error).message.replace(/^manifest /, '');
      const sep = msg.indexOf(': ');
      const inner = sep > 0 ? msg.slice(0, sep) : '';
      const rest = sep > 0 ? msg.slice(sep + 2) : msg;
      const full = (inner && inner !== '(root)' ? `${label}.${inner}` : label) + (manifestPath ? ` (in ${c.manifest as string})` : '');
      p.lines.push(`config ${full}: ${rest}`);
      return;
    }
    if (source) out.push({ source, manifestPath, manifest });
  });
  return out;
}

/**
 * `storage` (contract 7.1/7.4): components' key-value buckets (world 0.2.0), durable within
 * `flush-ms` (default 10 s). The telemetry outbox has its own interval (telemetry.commit-interval-ms).
 */
function parseStorage(p: Problems, v: unknown): StorageConfig {
  const st = mapping(p, v, 'storage', ['flush-ms'], 'write e.g. { flush-ms: 10000 }') ?? {};
  return { flushMs: millis(p, st['flush-ms'], 'storage.flush-ms', DEFAULTS.storageFlushMs, 0) };
}

function parseTelemetry(p: Problems, v: unknown): TelemetryConfig {
  const t = mapping(p, v, 'telemetry', ['outbox-max-bytes', 'outbox-max-age-ms', 'inflight-window', 'health-interval-ms', 'commit-interval-ms', 'memory-max-bytes', 'synchronous'], 'write e.g. { outbox-max-bytes: 64MiB, inflight-window: 100 }') ?? {};
  return {
    outboxMaxBytes: bytes(p, t['outbox-max-bytes'], 'telemetry.outbox-max-bytes', DEFAULTS.outboxMaxBytes, 1024),
    outboxMaxAgeMs: millis(p, t['outbox-max-age-ms'], 'telemetry.outbox-max-age-ms', DEFAULTS.outboxMaxAgeMs, 1000),
    inflightWindow: integer(p, t['inflight-window'], 'telemetry.inflight-window', DEFAULTS.inflightWindow, 1, 65535),
    healthIntervalMs: millis(p, t['health-interval-ms'], 'telemetry.health-interval-ms', DEFAULTS.healthIntervalMs, 100),
    commitIntervalMs: millis(p, t['commit-interval-ms'], 'telemetry.commit-interval-ms', DEFAULTS.commitIntervalMs, 0),
    memoryMaxBytes: bytes(p, t['memory-max-bytes'], 'telemetry.memory-max-bytes', DEFAULTS.memoryMaxBytes, 1024),
    synchronous: oneOf(p, t.synchronous, 'telemetry.synchronous', 'normal', ['normal', 'full'] as const),
  };
}
