import { isIP } from 'node:net';
import { isObj, mapping, oneOf, type Problems, show, string } from '../config/check.js';

/**
 * Config of the built-in extensions (contract 7.4): each key absent means the extension is off.
 * Parsed with the config loader's checker, so mistakes come out in the same one-line form.
 */
export interface ListenAddress {
  host: string;
  port: number;
}

export interface MetricsConfig {
  /** Where `GET /metrics` is served. Unauthenticated: loopback unless the operator says otherwise. */
  listen: ListenAddress;
}

export interface HomeAssistantConfig {
  /** HA's discovery prefix (HA's own default: homeassistant). */
  discoveryPrefix: string;
  /** Topic HA announces itself on (`online` after every HA start): `<discovery-prefix>/status`. */
  statusTopic: string;
  /**
   * false: one device-based discovery message (HA 2024.11+). true: one message per entity, for
   * older HA. Never both: HA would see every entity twice.
   */
  legacy: boolean;
}

export const METRICS_DEFAULT_LISTEN: ListenAddress = { host: '127.0.0.1', port: 9464 };
const LISTEN_FIX = 'write host:port, e.g. 127.0.0.1:9464 or [::1]:9464 (or only the port for loopback)';

export function parseListen(p: Problems, v: unknown, path: string, dflt: ListenAddress): ListenAddress {
  if (v === undefined || v === null) return dflt;
  if (typeof v === 'number') v = String(v);
  if (typeof v !== 'string') {
    p.add(path, `expected host:port, got ${show(v)}`, LISTEN_FIX);
    return dflt;
  }
  const m = /^(?:\[([0-9A-Fa-f:.]+)\]|([^:[\]]+)):(\d+)$/.exec(v) ?? (/^\d+$/.test(v) ? [v, undefined, dflt.host, v] : null);
  if (!m) {
    p.add(path, `${show(v)} is not host:port`, LISTEN_FIX);
    return dflt;
  }
  const host = m[1] ?? m[2]!;
  const port = Number(m[3]);
  if (!Number.isInteger(port) || port < 1 || port > 65535) {
    p.add(path, `port ${m[3]} is out of range`, 'use a port from 1 to 65535');
    return dflt;
  }
  if (m[1] !== undefined && isIP(host) !== 6) p.add(path, `${show(host)} is not an IPv6 address`, LISTEN_FIX);
  return { host, port };
}

export function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127\./.test(host);
}

export function parseMetricsConfig(p: Problems, v: unknown): MetricsConfig | undefined {
  if (v === undefined || v === null) return undefined;
  const m = mapping(p, v, 'metrics', ['listen'], 'write e.g. { listen: 127.0.0.1:9464 }');
  if (!m) return undefined;
  return { listen: parseListen(p, m.listen, 'metrics.listen', METRICS_DEFAULT_LISTEN) };
}

const HA_ID_RE = /^[A-Za-z0-9_-]+(?:\/[A-Za-z0-9_-]+)*$/;

export function parseHomeAssistantConfig(p: Problems, v: unknown): HomeAssistantConfig | undefined {
  if (v === undefined || v === null) return undefined;
  // `homeassistant: true` (or {}) is the common case: everything at HA's defaults.
  if (v === true) v = {};
  if (v === false) return undefined;
  const h = mapping(p, v, 'homeassistant', ['discovery-prefix', 'legacy'], 'write e.g. { discovery-prefix: homeassistant }');
  if (!h || !isObj(v)) return undefined;
  const discoveryPrefix = string(p, h['discovery-prefix'], 'homeassistant.discovery-prefix', 'homeassistant');
  if (!HA_ID_RE.test(discoveryPrefix)) p.add('homeassistant.discovery-prefix', `${show(discoveryPrefix)} is not a usable discovery prefix`, 'use the prefix set in Home Assistant\'s MQTT options (default homeassistant): letters, digits, _ -');
  const legacy = oneOf(p, h.legacy === undefined ? undefined : String(h.legacy), 'homeassistant.legacy', 'false', ['true', 'false'] as const) === 'true';
  return { discoveryPrefix, statusTopic: `${discoveryPrefix}/status`, legacy };
}
