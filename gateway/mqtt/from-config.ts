import { readFileSync } from 'node:fs';
import type { GatewayConfig } from '../config/types.js';
import { MqttConnection, type MqttConnectionOptions } from './connection.js';
import { EmbeddedBroker, type PendingRefusal } from './embedded.js';
import { presence } from './topics.js';

/**
 * Wiring for the gateway process: from a validated GatewayConfig to a running (embedded) broker
 * and a connection whose birth/LWT/farewell are the retained `<prefix>/gw/<id>/state` messages.
 */
export interface BrokerLink {
  connection: MqttConnection;
  /** Set when mqtt.url is `embedded`. */
  embedded: EmbeddedBroker | undefined;
  /**
   * Binds the embedded broker's port (if any): the part of `start` that can fail on a busy port, and
   * what `connection` needs first (its URL names the bound port). Nothing to do for an external broker.
   */
  listen(): Promise<void>;
  /** Starts the embedded broker (if any) and begins connecting; resolves before the first CONNACK. */
  start(): Promise<void>;
  /** Publishes the retained `offline`, disconnects, stops the embedded broker. */
  stop(): Promise<void>;
}

export interface BrokerLinkOptions {
  version: string;
  groups?: string[];
  overrides?: Partial<MqttConnectionOptions>;
  /** The embedded broker destroyed a connection over its pending-connection caps (embedded.ts). */
  onEmbeddedRefusal?: (refusal: PendingRefusal) => void;
}

export function brokerLink(config: GatewayConfig, options: BrokerLinkOptions): BrokerLink {
  const m = config.mqtt;
  const embedded = m.embedded
    ? new EmbeddedBroker({
      port: m.embeddedPort,
      host: m.embeddedHost,
      ...(m.username !== undefined ? { username: m.username, password: m.password ?? '' } : {}),
      ...(options.onEmbeddedRefusal ? { onRefused: options.onEmbeddedRefusal } : {}),
    })
    : undefined;
  const p = presence(m.topicPrefix, config.gateway.id, options.version, options.groups ?? config.gateway.groups);
  const read = (file: string | undefined) => (file === undefined ? undefined : readFileSync(file));
  const build = (): MqttConnectionOptions => {
    const o: MqttConnectionOptions = {
      url: embedded ? embedded.url : m.url,
      ...(embedded || !m.fallbackUrls?.length ? {} : { fallbackUrls: m.fallbackUrls }),
      clientId: m.clientId ?? `airssys-${config.gateway.id}`,
      protocol: embedded ? 4 : m.protocol,
      keepaliveS: m.keepaliveS,
      will: p.will,
      birth: p.birth,
      farewell: p.farewell,
      ...options.overrides,
    };
    if (m.username !== undefined) o.username = m.username;
    if (m.password !== undefined) o.password = m.password;
    const ca = read(m.ca), cert = read(m.cert), key = read(m.key);
    if (ca) o.ca = ca;
    if (cert) o.cert = cert;
    if (key) o.key = key;
    return o;
  };
  // The embedded broker's port is only known after it listens (port 0), so build options late.
  let connection: MqttConnection | undefined = embedded ? undefined : new MqttConnection(build());
  const link: BrokerLink = {
    get connection() {
      if (!connection) connection = new MqttConnection(build());
      return connection;
    },
    embedded,
    async listen() {
      await embedded?.listen();
    },
    async start() {
      if (embedded) await embedded.start();
      await link.connection.start();
    },
    async stop() {
      await connection?.stop();
      await embedded?.stop();
    },
  };
  return link;
}
