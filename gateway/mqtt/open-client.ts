import { createConnection } from 'node:net';
import mqtt, { MqttClient, type IClientOptions } from 'mqtt';

/**
 * `mqtt.connect`, without the transports a plain TCP broker never uses. On its first call MQTT.js
 * loads every stream builder it has: WebSocket (`ws`, which pulls in http, https and zlib), TLS, and
 * SOCKS (`socks`, `ip-address`), ~45-75 ms of CPU on the gateway's start path (docs/memory.md,
 * "Start time") for a connection that only needs `net`. For a plain `mqtt://host[:port]` or
 * `tcp://` URL this builds the client MQTT.js would build (the same options after its URL parsing,
 * the same `net.createConnection`); anything else goes through `mqtt.connect` unchanged: mqtts/ws/wss,
 * credentials or a query in the URL (MQTT.js reads them from there), a client certificate (MQTT.js
 * then turns mqtt:// into mqtts://), a SOCKS proxy (MQTTJS_SOCKS_PROXY) or `servers`.
 */
export function openClient(url: string, options: IClientOptions, env: Record<string, string | undefined> = process.env): MqttClient {
  const plain = plainTcp(url, options, env);
  if (!plain) return mqtt.connect(url, options);
  // What mqtt.connect hands its client for such a URL: the URL's fields, then the options over them.
  const opts = { ...plain, ...options, defaultProtocol: plain.protocol } as IClientOptions;
  // MQTT.js's tcp stream builder, minus its SOCKS branch (never taken here). Like mqtt.connect's
  // wrapper, it closes over the options: the client calls it with itself only.
  const client = new MqttClient(() => {
    opts.port = opts.port || 1883;
    opts.hostname = opts.hostname || opts.host || 'localhost';
    return createConnection({ port: opts.port, host: opts.hostname });
  }, opts);
  // As mqtt.connect does: an 'error' with no listener must not throw.
  client.on('error', () => {});
  return client;
}

/**
 * The URL's fields as mqtt.connect takes them, or undefined when the URL is not plain TCP. Parsed
 * with WHATWG `URL`, not `url.parse` (deprecated: Node 24 prints DEP0169 on stderr for it).
 */
function plainTcp(url: string, options: IClientOptions, env: Record<string, string | undefined>): { port?: number; host: string; protocol: 'mqtt' | 'tcp' } | undefined {
  if (options.servers || options.socksProxy !== undefined || env.MQTTJS_SOCKS_PROXY || (options.cert && options.key)) return undefined;
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    return undefined; // mqtt.connect reports it
  }
  if ((u.protocol !== 'mqtt:' && u.protocol !== 'tcp:') || u.username || u.password || u.search || !u.hostname) return undefined;
  if (u.pathname && u.pathname !== '/') return undefined;
  // An IPv6 literal keeps its brackets in URL.hostname; net.createConnection wants the bare address.
  const host = u.hostname.startsWith('[') && u.hostname.endsWith(']') ? u.hostname.slice(1, -1) : u.hostname;
  return { ...(u.port !== '' ? { port: Number(u.port) } : {}), host, protocol: u.protocol === 'mqtt:' ? 'mqtt' : 'tcp' };
}
