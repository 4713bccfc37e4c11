import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import mqtt, { type IClientOptions } from 'mqtt';
import type { MqttConfig } from '../../config/index.js';
import type { Check, CheckResult } from '../types.js';
import { redact } from '../../mqtt/connection.js';

/** CONNACK codes that mean "wrong credentials" (3.1.1: 4, 5; MQTT 5: 0x86, 0x87, 0x8C). */
const AUTH_CODES = new Set([4, 5, 134, 135, 140]);

/** Reachability and credentials: one real CONNECT with a short timeout, no reconnects. */
export const checkBroker: Check = async (ctx) => {
  const m = ctx.config?.mqtt;
  if (!m) return { name: 'broker', status: 'warn', detail: 'no valid config, so no broker to check', fix: 'pass --config FILE (see the config line above)' };
  if (m.embedded) return checkEmbeddedPort(m);
  return probeBroker(m, ctx.brokerTimeoutMs);
};

export async function probeBroker(m: Pick<MqttConfig, 'url' | 'username' | 'password' | 'ca' | 'cert' | 'key' | 'protocol'>, timeoutMs: number): Promise<CheckResult> {
  const where = redact(m.url);
  const opts: IClientOptions = {
    clientId: `airssys-doctor-${process.pid}-${Date.now() % 100000}`,
    protocolVersion: m.protocol === 5 ? 5 : 4,
    connectTimeout: timeoutMs,
    reconnectPeriod: 0,
    clean: true,
    username: m.username,
    password: m.password,
  };
  try {
    if (m.ca) opts.ca = readFileSync(m.ca);
    if (m.cert) opts.cert = readFileSync(m.cert);
    if (m.key) opts.key = readFileSync(m.key);
  } catch (err) {
    return { name: 'broker', status: 'fail', detail: `cannot read a TLS file: ${(err as Error).message}`, fix: 'check mqtt.ca, mqtt.cert and mqtt.key (readable by the service user)' };
  }
  const outcome = await new Promise<{ ok: true } | { ok: false; err?: Error & { code?: unknown }; why?: string }>((resolve) => {
    let client: ReturnType<typeof mqtt.connect> | undefined;
    let finished = false;
    const done = (r: { ok: true } | { ok: false; err?: Error & { code?: unknown }; why?: string }) => {
      if (finished) return;
      finished = true;
      clearTimeout(timer);
      client?.removeAllListeners();
      client?.on('error', () => {});
      client?.end(true);
      resolve(r);
    };
    const timer = setTimeout(() => done({ ok: false, why: 'timeout' }), timeoutMs + 250);
    try {
      client = mqtt.connect(m.url, opts);
    } catch (err) {
      done({ ok: false, err: err as Error });
      return;
    }
    client.once('connect', () => done({ ok: true }));
    client.once('error', (err) => done({ ok: false, err }));
    client.once('close', () => setTimeout(() => done({ ok: false, why: 'closed' }), 50));
  });
  if (outcome.ok) {
    return { name: 'broker', status: 'ok', detail: `connected to ${where}${m.username ? ` as ${m.username}` : ''}` };
  }
  const code = outcome.err?.code;
  if (typeof code === 'number' && AUTH_CODES.has(code)) {
    return {
      name: 'broker',
      status: 'fail',
      detail: `${where} refused the credentials (${outcome.err!.message})`,
      fix: m.username ? 'fix mqtt.username/mqtt.password (or AIRSSYS_MQTT_USERNAME/_PASSWORD) to match the broker\'s password file' : 'the broker wants a login: set mqtt.username and mqtt.password',
    };
  }
  const fixes: Record<string, string> = {
    ECONNREFUSED: 'nothing listens there: start the broker (sudo systemctl start mosquitto) or fix mqtt.url',
    ENOTFOUND: 'the host name does not resolve: fix mqtt.url or DNS (try the broker\'s IP address)',
    EAI_AGAIN: 'DNS is not answering: check the network, or use the broker\'s IP address in mqtt.url',
    EHOSTUNREACH: 'no route to the broker: check the network and mqtt.url',
    ENETUNREACH: 'no network: check Wi-Fi/Ethernet (ip addr)',
    ECONNRESET: 'the broker dropped the connection: check TLS (mqtts:// for a TLS port) and the broker log',
  };
  const errCode = typeof code === 'string' ? code : undefined;
  const reason = outcome.why === 'timeout' ? `no answer within ${timeoutMs} ms` : outcome.why === 'closed' ? 'the broker closed the connection' : (outcome.err?.message ?? 'unknown error');
  return {
    name: 'broker',
    status: 'fail',
    detail: `cannot connect to ${where}: ${reason}`,
    fix: (errCode && fixes[errCode]) ?? (outcome.why === 'timeout' ? 'a firewall or a wrong port: check mqtt.url, and that the broker listens on the network (listener 1883 0.0.0.0 in mosquitto.conf)' : 'check mqtt.url and the broker log'),
  };
}

/** The embedded broker needs its port free (unless the gateway itself is already running on it). */
async function checkEmbeddedPort(m: MqttConfig): Promise<CheckResult> {
  const err = await new Promise<NodeJS.ErrnoException | undefined>((resolve) => {
    const srv = createServer();
    srv.once('error', (e) => resolve(e as NodeJS.ErrnoException));
    srv.listen({ port: m.embeddedPort, host: m.embeddedHost, exclusive: true }, () => srv.close(() => resolve(undefined)));
  });
  if (!err) return { name: 'broker', status: 'ok', detail: `embedded broker; ${m.embeddedHost}:${m.embeddedPort} is free` };
  return {
    name: 'broker',
    status: 'warn',
    detail: `embedded broker; port ${m.embeddedPort} is taken (${err.code})`,
    fix: `fine if that is this gateway already running; otherwise stop the other broker (sudo ss -ltnp 'sport = :${m.embeddedPort}') or set mqtt.embedded-port`,
  };
}

