import type { Logger } from 'pino';
import type { PublisherStats } from '../telemetry/publisher.js';
import type { OutboxStats } from '../telemetry/outbox.js';
import type { GatewayConfig } from '../config/types.js';
import type { Manifest } from '../../runtime/manifest.js';
import type { MetricsSnapshot } from '../../drivers/pipeline/metrics.js';
import type { GatewayEventSource } from './events.js';

/**
 * A gateway extension (after Zigbee2MQTT's lib/extension/): one concern of the gateway beside the
 * runtime's data path, with a start and a stop. The gateway's own concerns are extensions in
 * gateway/extensions/core/ — component state publishing, inbound commands, OTA hosting, health —
 * and so are the operator features — Prometheus metrics, Home Assistant discovery, the status page.
 * An extension never holds the Gateway object: it sees the gateway through an `ExtensionContext`
 * plus the explicit options its constructor takes, so what it may read or do is exactly that, and
 * the core can change behind it.
 *
 * Lifecycle (gateway.ts, the composition root, starts them in groups):
 * - `state` starts before the components (it must see their first lifecycle event) and stops after
 *   them (their `stopped` states are the last retained ones);
 * - `commands`, `ota`, `health` start once the components run and stop before them;
 * - the operator features start at the very end and stop first, while the broker is connected.
 * A core extension whose `start` throws fails the gateway's start; an operator feature whose `start`
 * throws is logged and left out, and the gateway keeps running (it must not take the devices down).
 * Whatever an extension registered through its context (listeners, subscriptions) is released after
 * its `stop`, even if `stop` throws.
 */
export interface Extension {
  /** Short, stable, used in logs (`ext` field) and errors. */
  readonly name: string;
  start(ctx: ExtensionContext): Promise<void>;
  stop(): Promise<void>;
}

export interface ExtensionContext {
  readonly gateway: GatewayIdentity;
  /** The validated config (read-only: extensions never change it). */
  readonly config: DeepReadonly<GatewayConfig>;
  /** A child of the gateway's logger with `{ ext: name }`. */
  readonly log: Logger;
  readonly mqtt: ExtensionMqtt;
  /** Lifecycle, removal, version and OTA status events (with the latest of each kept). */
  readonly events: GatewayEventSource;
  /** Every running component now (cheap: reads counters the core keeps anyway). */
  components(): ComponentSnapshot[];
  outbox(): OutboxStats;
  publisher(): PublisherStats;
}

export interface GatewayIdentity {
  id: string;
  version: string;
  topicPrefix: string;
  groups: readonly string[];
  dataDir: string;
  /** Topic of the retained `{"state":"online"|"offline",…}` (also the LWT). */
  stateTopic: string;
}

/**
 * The gateway's broker session as an extension may use it. Subscriptions are the extension's own
 * (messages on other topics never reach its handler) and end with it; filters must not be ones
 * another extension subscribes to (`<prefix>/gw/<id>/cmd/#` is the commands extension's, …).
 */
export interface ExtensionMqtt {
  readonly connected: boolean;
  /** Sessions established after the first one. */
  readonly reconnects: number;
  /** Rejects when not connected (nothing is queued): publish again from `onConnect`. */
  publish(topic: string, payload: string | Buffer, options?: { qos?: 0 | 1 | 2; retain?: boolean }): Promise<void>;
  subscribe(filter: string, handler: (topic: string, payload: Buffer, retained: boolean) => void, options?: { qos?: 0 | 1 | 2 }): Promise<void>;
  /** Called after every (re)connect, once the gateway's birth message is out. */
  onConnect(cb: () => void): void;
  onDisconnect(cb: () => void): void;
}

export interface ComponentSnapshot {
  name: string;
  version: string;
  sha256: string;
  /** Lifecycle state of the last event (`starting`, `running`, `restarting`, `failed`, `stopped`). */
  state: string;
  /** Restarts since the gateway started (from the supervisor). */
  restarts: number;
  manifest: DeepReadonly<Manifest>;
  events: number;
  errors: number;
  crashes: number;
  deadlineOverruns: number;
  fuel: { last: number; total: number };
  memoryBytes: number;
  /** dropped: evicted on overflow, by class (ticks first, then events); rejected: commands refused. */
  mailbox: { depth: number; capacity: number; dropped: { tick: number; event: number }; rejected: number };
  /** Host calls through the capability pipeline (undefined before the first call). */
  hostCalls: MetricsSnapshot | undefined;
}

// Maps (config.policy's roles and components) stay Maps an extension can read, not a mapped type of their methods.
export type DeepReadonly<T> = T extends (infer U)[] ? ReadonlyArray<DeepReadonly<U>> : T extends Uint8Array ? T : T extends ReadonlyMap<infer K, infer V> ? ReadonlyMap<K, DeepReadonly<V>> : T extends object ? { readonly [K in keyof T]: DeepReadonly<T[K]> } : T;
