import type { Logger } from 'pino';
import type { Metrics } from '../../drivers/pipeline/metrics.js';
import { topicMatches } from '../../runtime/bus/topic.js';
import type { ComponentService } from '../component/component-service.js';
import type { GatewayConfig } from '../config/types.js';
import type { MqttConnection } from '../mqtt/connection.js';
import { topics } from '../mqtt/topics.js';
import type { Outbox } from '../telemetry/outbox.js';
import type { TelemetryPublisher } from '../telemetry/publisher.js';
import type { GatewayEvents } from './events.js';
import type { ComponentSnapshot, DeepReadonly, Extension, ExtensionContext, ExtensionMqtt } from './extension.js';

/** What the gateway hands the extension host: its parts, read through `ExtensionContext` only. */
export interface ExtensionHostDeps {
  config: GatewayConfig;
  log: Logger;
  version: string;
  connection: MqttConnection;
  events: GatewayEvents;
  services: ReadonlyMap<string, ComponentService>;
  metrics: Metrics;
  outbox: Outbox;
  publisher: TelemetryPublisher;
}

interface Running {
  ext: Extension;
  dispose: () => void;
  log: Logger;
}

export interface ExtensionGroupOptions {
  /**
   * The gateway's own concerns (state, commands, OTA, health): one that does not start stops the
   * ones started before it and fails the gateway's start with its error. Operator features
   * (Home Assistant, metrics, status page) are not required: one failing is logged and left out.
   */
  required?: boolean;
}

/**
 * Starts a group of extensions in order, stops them in reverse; one failing to stop never stops the
 * others. The composition root (gateway.ts) starts several groups at different points of startup.
 */
export class ExtensionHost {
  private constructor(private readonly running: Running[]) {}

  static async start(extensions: Extension[], deps: ExtensionHostDeps, options: ExtensionGroupOptions = {}): Promise<ExtensionHost> {
    const running: Running[] = [];
    for (const ext of extensions) {
      const log = deps.log.child({ ext: ext.name });
      const { ctx, dispose } = makeContext(deps, log);
      try {
        await ext.start(ctx);
        running.push({ ext, dispose, log });
        // The gateway's own concerns start every time: only operator features are worth a line.
        log[options.required ? 'debug' : 'info']('extension started');
      } catch (err) {
        dispose();
        if (options.required) {
          await new ExtensionHost(running).stop();
          throw err;
        }
        log.error({ err: err instanceof Error ? err.message : String(err) }, `extension ${ext.name} did not start; the gateway runs without it`);
      }
    }
    return new ExtensionHost(running);
  }

  get names(): string[] {
    return this.running.map((r) => r.ext.name);
  }

  async stop(): Promise<void> {
    for (const r of this.running.splice(0).reverse()) {
      try {
        await r.ext.stop();
      } catch (err) {
        r.log.warn({ err: err instanceof Error ? err.message : String(err) }, 'extension did not stop cleanly');
      } finally {
        r.dispose();
      }
    }
  }
}

function makeContext(deps: ExtensionHostDeps, log: Logger): { ctx: ExtensionContext; dispose: () => void } {
  const { config, connection: conn, events } = deps;
  const cleanups: Array<() => void> = [];
  const handlers: Array<{ filter: string; handler: (topic: string, payload: Buffer, retained: boolean) => void }> = [];
  let disposed = false;
  const onMessage = (topic: string, payload: Buffer, retained: boolean) => {
    for (const h of handlers) {
      if (!topicMatches(h.filter, topic)) continue;
      try {
        h.handler(topic, payload, retained);
      } catch (err) {
        log.warn({ topic, err: err instanceof Error ? err.message : String(err) }, 'extension message handler threw; ignored');
      }
    }
  };
  // Listening only once the extension subscribes: most never do, and each listener on the
  // connection is one more call per inbound message.
  let listening = false;
  const listen = () => {
    if (listening) return;
    listening = true;
    conn.on('message', onMessage);
    cleanups.push(() => conn.off('message', onMessage));
  };

  const mqtt: ExtensionMqtt = {
    get connected() {
      return conn.connected;
    },
    get reconnects() {
      return conn.reconnects;
    },
    publish: (topic, payload, options = {}) => conn.publish(topic, payload, options),
    subscribe: async (filter, handler, options = {}) => {
      if (disposed) return;
      listen();
      handlers.push({ filter, handler });
      cleanups.push(() => void conn.unsubscribe(filter).catch(() => {}));
      await conn.subscribe(filter, { qos: options.qos ?? 0 });
    },
    onConnect: (cb) => {
      conn.on('connect', cb);
      cleanups.push(() => conn.off('connect', cb));
    },
    onDisconnect: (cb) => {
      conn.on('disconnect', cb);
      cleanups.push(() => conn.off('disconnect', cb));
    },
  };

  const listened: Array<[string, (...a: never[]) => void]> = [];
  const ctx: ExtensionContext = {
    gateway: {
      id: config.gateway.id,
      version: deps.version,
      topicPrefix: config.mqtt.topicPrefix,
      groups: config.gateway.groups,
      dataDir: config.gateway.dataDir,
      stateTopic: topics.gatewayState(config.mqtt.topicPrefix, config.gateway.id),
    },
    config: config as DeepReadonly<GatewayConfig>,
    log,
    mqtt,
    events: {
      on: (event, listener) => {
        events.on(event, listener);
        listened.push([event, listener as unknown as (...a: never[]) => void]);
      },
      off: (event, listener) => {
        events.off(event, listener);
        // Forget it too: an extension that turns a listener on and off (the status page's telemetry tap) must not grow this list.
        const i = listened.findIndex(([e, l]) => e === event && l === (listener as unknown as (...a: never[]) => void));
        if (i >= 0) listened.splice(i, 1);
      },
      lastLifecycle: (c) => events.lastLifecycle(c),
      lastOta: (c) => events.lastOta(c),
      otaComponents: () => events.otaComponents(),
    },
    components: () => snapshot(deps),
    outbox: () => deps.outbox.stats(),
    publisher: () => deps.publisher.stats(),
  };
  cleanups.push(() => {
    for (const [event, listener] of listened) events.off(event as 'removed', listener as unknown as () => void);
  });
  return {
    ctx,
    dispose: () => {
      disposed = true;
      for (const c of cleanups.splice(0)) c();
    },
  };
}

function snapshot(deps: ExtensionHostDeps): ComponentSnapshot[] {
  const host = deps.metrics.snapshot();
  const out: ComponentSnapshot[] = [];
  for (const [name, s] of deps.services) {
    const last = deps.events.lastLifecycle(name);
    out.push({
      name,
      version: s.host.version,
      sha256: s.host.sha256,
      state: last?.state ?? s.state,
      restarts: last?.restarts ?? 0,
      manifest: s.manifest as DeepReadonly<typeof s.manifest>,
      events: s.host.stats.events,
      errors: s.host.stats.errors,
      crashes: s.host.stats.crashes,
      deadlineOverruns: s.host.stats.deadlineOverruns,
      fuel: { last: s.host.stats.lastFuel, total: s.host.stats.totalFuel },
      memoryBytes: s.host.memoryBytes(),
      mailbox: { depth: s.ref.mailbox.size, capacity: s.ref.mailbox.capacity, dropped: { tick: s.ref.stats.dropped.tick, event: s.ref.stats.dropped.event }, rejected: s.ref.stats.rejected },
      hostCalls: host[name],
    });
  }
  return out;
}
