import { topics } from './mqtt/topics.js';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import pino, { type Logger } from 'pino';
import { createBoard, type Board, type BoardSpec } from '../drivers/board.js';
import type { TelemetrySample } from '../drivers/pipeline/host-calls.js';
import type { SimBoard } from '../drivers/sim-board.js';
import { parseScenario, runScenario } from '../drivers/sim-scenario.js';
import { createAudit, type Audit } from '../drivers/pipeline/audit.js';
import { Metrics } from '../drivers/pipeline/metrics.js';
import { Engine, type PreparedComponent } from '../runtime/engine.js';
import { BuildWorker } from '../runtime/build/build-worker.js';
import { GatewayError } from '../runtime/errors.js';
import type { Manifest } from '../runtime/manifest.js';
import { Bus } from '../runtime/bus/bus.js';
import type { LifecycleEvent } from '../runtime/supervision/types.js';
import type { GatewayConfig } from './config/types.js';
import { ComponentService } from './component/component-service.js';
import { loadComponents } from './component/load.js';
import { admission, admissionProblems } from './admission.js';
import { brokerLink, type BrokerLink } from './mqtt/from-config.js';
import { redact } from './mqtt/connection.js';
import { LinkWatch } from './mqtt/link-watch.js';
import { ThrottledLog } from './log/throttled.js';
import { Outbox } from './telemetry/outbox.js';
import { outboxSink, TelemetrySinks } from './telemetry/sink.js';
import { createStorage, settleStorage } from './storage/from-config.js';
import type { FileStore } from '../drivers/storage/store.js';
import { TelemetryPublisher } from './telemetry/publisher.js';
import { OtaStore } from './ota/store.js';
import type { OtaUpdater } from './ota/updater.js';
import { ExtensionHost, GatewayEvents, extensionsFor, type ExtensionHostDeps } from './extensions/index.js';
import { observerSink } from './extensions/events.js';
import { StateExtension } from './extensions/core/state.js';
import { CommandsExtension } from './extensions/core/commands.js';
import { OtaExtension } from './extensions/core/ota.js';
import { HealthExtension, healthReport } from './extensions/core/health.js';
import { MemoryExtension } from './extensions/core/memory.js';
import { startSystemdService, type SystemdService } from './service/systemd.js';
import { DataDirLock } from './datadir/lock.js';

/**
 * The gateway process (`airssys start`), as a composition root: config → board → components under
 * supervision → broker and durable telemetry, then every other concern as an extension
 * (gateway/extensions/: component states, commands, OTA hosting, health, and the operator features).
 * Startup refuses a config that asks for more than its policy allows or that two components cannot
 * share, before any device is touched: the gateway never runs half-configured.
 */
export const GATEWAY_VERSION = '0.1.0';

export interface GatewayOptions {
  config: GatewayConfig;
  logger?: Logger;
  /** Restart backoff and failed-retry pacing (tests shorten them). */
  supervision?: { backoff?: { baseMs: number; maxMs: number } | false; failedRetryMs?: number };
  /**
   * Shared by many gateways in one process (`airssys fleet-sim`): one Engine (one component cache,
   * one compiled module per component) and one build worker instead of one each. The owner of
   * these closes them; `stop()` leaves a shared build worker running.
   */
  shared?: { engine: Engine; buildWorker: BuildWorker };
}

export class Gateway {
  readonly config: GatewayConfig;
  readonly log: Logger;
  readonly metrics = new Metrics();
  readonly bus = new Bus<Uint8Array>();
  readonly services = new Map<string, ComponentService>();
  readonly startedAt = Date.now();
  readonly buildWorker: BuildWorker;
  engine!: Engine;
  board!: Board;
  audit!: Audit;
  broker!: BrokerLink;
  outbox!: Outbox;
  /** Components' storage buckets (contract 7.1). */
  storage!: FileStore;
  publisher!: TelemetryPublisher;
  /** Component lifecycle, removal, version and OTA events, for extensions (gateway/extensions/). */
  readonly events = new GatewayEvents();
  /** Where components' telemetry goes: the outbox, then observers (gateway/telemetry/sink.ts). */
  readonly telemetry = new TelemetrySinks();
  /** Refusals of inbound traffic (commands, junk OTA envelopes, embedded-broker connections over its caps): counted, logged a few lines per window. */
  readonly refusals: ThrottledLog;
  private link: LinkWatch | undefined;
  private dataDirLock: DataDirLock | undefined;
  private systemd: SystemdService | undefined;
  private commands: CommandsExtension | undefined;
  private otaHosting: OtaExtension | undefined;
  private memory: MemoryExtension | undefined;
  /** Extension groups in start order: [state], [commands, ota, health], [operator features]. */
  private readonly groups: { beforeComponents?: ExtensionHost; core?: ExtensionHost; features?: ExtensionHost } = {};
  private readonly prefix: string;
  private readonly id: string;
  private readonly unsubscribe: Array<() => void> = [];

  constructor(private readonly opts: GatewayOptions) {
    this.config = opts.config;
    this.log = opts.logger ?? pino({ level: opts.config.log.level, base: { gw: opts.config.gateway.id } });
    this.prefix = opts.config.mqtt.topicPrefix;
    this.id = opts.config.gateway.id;
    this.refusals = new ThrottledLog({ sink: (level, fields, message) => this.log[level](fields, message) });
    this.buildWorker = opts.shared?.buildWorker ?? new BuildWorker({ idleMs: 60_000 });
    this.events.onListenerError((err) => this.log.warn({ err: err instanceof Error ? err.message : String(err) }, 'an extension event listener threw; ignored'));
  }

  /** The OTA updater (once the OTA extension started). */
  get ota(): OtaUpdater | undefined {
    return this.otaHosting?.updater;
  }

  async start(): Promise<void> {
    const { config } = this;
    const dataDir = config.gateway.dataDir;
    await mkdir(dataDir, { recursive: true });
    // First: one gateway per data dir (a second one would share the outbox, the store and the client id).
    const { lock, tookOver } = await DataDirLock.acquire(dataDir);
    this.dataDirLock = lock;
    if (tookOver) this.log.warn({ lock: lock.path, previous: tookOver.owner }, `took over the data directory lock: ${tookOver.why} (the last gateway did not stop cleanly)`);

    // 1. Everything that can be refused is checked before a device or the broker is touched.
    const manifests = config.components.map((c) => c.manifest);
    const names = new Set<string>();
    for (const m of manifests) {
      if (names.has(m.name)) throw new GatewayError('INVALID_CONFIG', `config components: two components are named ${m.name}; give each a unique name`);
      names.add(m.name);
      const violations = admission([m], { policy: config.policy }).policy;
      if (violations.length) throw new GatewayError('CAPABILITY_DENIED', `${violations[0]}${violations.length > 1 ? ` (and ${violations.length - 1} more)` : ''}; grant it through policy.roles / policy.components or reduce the manifest`);
    }
    const conflicts = admission(manifests, {}).devices;
    if (conflicts.length) throw new GatewayError('INVALID_CONFIG', `${conflicts[0]}; give each device to one component`);

    // Cold builds (jco) run on a worker thread: ticks keep their rhythm while an OTA release is
    // prepared, and jco's memory goes away with the worker once it idles.
    this.engine = this.opts.shared?.engine ?? new Engine({ cacheDir: join(dataDir, 'cache'), builder: this.buildWorker });
    const store = await OtaStore.open(dataDir);
    // Settle interrupted OTA activations before choosing what to run: a version still `pending`
    // (the process died while activating it or in its probation) must not be the one started.
    const recovered = await store.recover();
    const loaded = await loadComponents({ config, store, engine: this.engine, policy: config.policy, log: this.log });

    // Cache entries of older jco/instrumenter versions or torn writes are dead weight on an SD card.
    // A shared cache is not one gateway's to prune: what this one does not run, another may.
    const inUse = new Set([...loaded.values()].map((l) => this.engine.cacheKey(l.prepared.info.sha256, { memoryMb: l.manifest.limits.memoryMb })));
    if (!this.opts.shared) void this.engine.prune({ inUse }).then(
      (n) => n > 0 && this.log.info({ removed: n }, 'pruned the component cache'),
      (err: Error) => this.log.warn({ err: err.message }, 'could not prune the component cache'),
    );

    // `scenario` is the simulated board's signal generator, not a driver option.
    const { scenario, ...boardOptions } = config.board.options as { scenario?: unknown };
    const parsedScenario = config.board.kind === 'sim' ? parseScenario(scenario) : undefined;
    const devices = parsedScenario ? { devices: { i2c: parsedScenario.i2c, spi: parsedScenario.spi } } : {};
    const busLog = config.board.kind === 'raspberry-pi' ? { log: (level: 'info' | 'warn', m: string) => this.log[level](m) } : {};
    this.board = await createBoard({ kind: config.board.kind, options: { ...boardOptions, ...devices, ...busLog } } as BoardSpec);
    const problems = admission([...loaded.values()].map((l) => l.manifest), { board: this.board }).board;
    if (problems.length) {
      await this.board.close();
      throw new GatewayError('INVALID_CONFIG', `${problems[0]}; correct the manifest or the board`);
    }
    this.audit = createAudit({ file: join(dataDir, 'audit.log') });
    this.storage = createStorage(dataDir, config.storage.flushMs, this.log);
    settleStorage(this.storage, recovered, this.log);

    // 2. Durable telemetry first, so not one sample of init is lost even with no broker yet.
    const t = config.telemetry;
    this.outbox = new Outbox({ path: join(dataDir, 'telemetry.db'), maxBytes: t.outboxMaxBytes, maxAgeMs: t.outboxMaxAgeMs, commitIntervalMs: t.commitIntervalMs, memoryMaxBytes: t.memoryMaxBytes, synchronous: t.synchronous, log: (level, message) => this.log[level]({ source: 'outbox' }, message) });
    // The outbox first: an observer never sees a sample the outbox missed.
    this.telemetry.add(outboxSink(this.outbox));
    this.telemetry.add(observerSink(this.events));
    // A LAN peer holding connections open to the embedded broker: counted in health `refused`
    // (kinds broker-pending-per-address / broker-pending-total), a few log lines per window.
    this.broker = brokerLink(config, {
      version: GATEWAY_VERSION,
      onEmbeddedRefusal: (r) => this.refusals.note(`broker-pending-${r.kind}`, 'warn', { source: 'embedded-broker', remote: r.remote, limit: r.limit },
        `embedded broker: closed a connection from ${r.remote}: ${r.limit} from ${r.kind === 'per-address' ? 'that address' : 'the network'} have not logged in yet`),
    });
    // Watching before the first attempt, so a broker that is down from the start is reported.
    if (!this.broker.embedded) this.link = new LinkWatch(this.broker.connection, redact(config.mqtt.url), (level, fields, message) => this.log[level](fields, message));
    // The port now (a busy one fails the start before a component starts); the broker and the
    // first connect attempt after the components started: they cost CPU that would otherwise delay
    // the components, and run while the components wait for their first samples (docs/memory.md,
    // "Start time"). Telemetry meanwhile goes to the outbox; states wait in the retained cache.
    await this.broker.listen();
    const conn = this.broker.connection;
    this.publisher = new TelemetryPublisher({ outbox: this.outbox, connection: conn, topicPrefix: this.prefix, gatewayId: this.id, window: t.inflightWindow });
    this.publisher.start();

    // 3. Component states (they must see the first lifecycle event), then the components, each
    // under its own supervisor; then the simulated signals, if any; then the broker connection.
    const deps: ExtensionHostDeps = { config, log: this.log, version: GATEWAY_VERSION, connection: conn, events: this.events, services: this.services, metrics: this.metrics, outbox: this.outbox, publisher: this.publisher };
    const state = new StateExtension({
      prefix: this.prefix,
      gatewayId: this.id,
      retained: conn.retained,
      serving: (name) => {
        const svc = this.services.get(name);
        return svc && { version: svc.host.version, sha256: svc.host.sha256 };
      },
      republishMs: t.healthIntervalMs,
    });
    this.groups.beforeComponents = await ExtensionHost.start([state], deps, { required: true });
    for (const l of loaded.values()) await this.startService(l.manifest, l.prepared);
    if (parsedScenario) this.unsubscribe.push(runScenario(this.board as SimBoard, parsedScenario));
    await this.broker.start();

    // 4. Commands from the broker and operator retries, OTA, health.
    this.commands = new CommandsExtension({ prefix: this.prefix, gatewayId: this.id, config: config.commands, services: this.services, audit: this.audit, refusals: this.refusals });
    this.otaHosting = new OtaExtension({
      config,
      connection: conn,
      store,
      recovered,
      components: {
        get: (name) => this.services.get(name),
        start: (manifest, prepared) => this.startService(manifest, prepared),
        remove: (name) => this.removeService(name),
        versionChanged: (svc) => this.versionChanged(svc),
        // Before the new version's init runs (it may publish), as for a started component.
        declareChannels: (manifest) => this.declareChannels(manifest),
      },
      admit: (manifest) => {
        const others = [...this.services.values()].filter((s) => s.name !== manifest.name).map((s) => s.manifest);
        return admissionProblems(admission([manifest], { policy: config.policy, board: this.board, alongside: others }));
      },
      prepare: (bytes, memoryMb) => this.engine.prepare(bytes, { memoryMb }),
      storage: this.storage,
      // A shared worker is its owner's to warm: a thousand simulated gateways must not each load jco.
      ...(this.opts.shared ? {} : { warm: () => this.buildWorker.warm() }),
      onStatus: (component, status) => this.events.ota(component, status),
      refusals: this.refusals,
      log: this.log,
    });
    const health = new HealthExtension({ prefix: this.prefix, gatewayId: this.id, intervalMs: t.healthIntervalMs, report: () => this.health() });
    // A full collection after each swap (gateway/extensions/core/memory.ts); not in a process that
    // hosts many gateways (fleet-sim), where one gateway's OTA must not pause the others.
    if (!this.opts.shared) this.memory = new MemoryExtension();
    this.groups.core = await ExtensionHost.start([this.commands, this.otaHosting, health, ...(this.memory ? [this.memory] : [])], deps, { required: true });

    // 5. Operator features (Home Assistant, metrics, status page), if the config turns them on.
    this.groups.features = await ExtensionHost.start(extensionsFor(config), deps);
    // Under systemd (Type=notify): READY=1 now, and the liveness-checked watchdog (docs/raspberry-pi.md).
    this.systemd = startSystemdService({ services: this.services, connection: () => this.broker.connection, log: (level, m) => this.log[level]({ source: 'systemd' }, m) });
    this.log.info({ components: [...this.services.keys()], broker: config.mqtt.embedded ? `embedded :${this.broker.embedded?.port ?? config.mqtt.embeddedPort}` : config.mqtt.url }, 'gateway started');
  }

  health(): Record<string, unknown> {
    return healthReport({
      version: GATEWAY_VERSION,
      startedAt: this.startedAt,
      services: this.services,
      metrics: this.metrics,
      outbox: () => this.outbox.stats(),
      publisher: () => this.publisher.stats(),
      ...(this.link ? { broker: () => this.link!.status() } : {}),
      commands: () => this.commands?.stats(),
      refused: () => this.refusals.stats(),
      memory: () => this.memory?.stats(),
    });
  }

  /**
   * A version's channels get their seq reservations before it runs, while the disk most likely takes
   * writes: a channel first heard of on a full disk could not be published (its `err` channel, say;
   * docs/telemetry.md, "Full disk"). For a started component and for an OTA'd version alike.
   */
  private declareChannels(manifest: Manifest): void {
    this.outbox.declare(manifest.name, manifest.capabilities.channels.map((c) => c.name));
  }

  private async startService(manifest: Manifest, prepared: PreparedComponent): Promise<ComponentService> {
    const name = manifest.name;
    const clog = this.log.child({ component: name });
    this.declareChannels(manifest);
    const svc = new ComponentService({
      manifest,
      prepared,
      board: this.board,
      audit: this.audit,
      metrics: this.metrics,
      rateLimits: this.config.rateLimits,
      sinks: {
        telemetry: (channel: string, sample: TelemetrySample) => {
          this.telemetry.write(name, channel, 'value' in sample ? { value: sample.value } : { json: JSON.stringify(sample.json) });
        },
        message: (topic: string, payload: Uint8Array) => this.route(name, topic, payload),
        log: (level, message) => clog[level]({ source: 'component' }, message),
      },
      bus: this.bus,
      storage: this.storage,
      onLifecycle: (e, s) => this.lifecycle(e, s),
      log: (level, message) => clog[level](message),
      ...(this.opts.supervision?.backoff !== undefined ? { backoff: this.opts.supervision.backoff } : {}),
      ...(this.opts.supervision?.failedRetryMs !== undefined ? { failedRetryMs: this.opts.supervision.failedRetryMs } : {}),
    });
    this.services.set(name, svc);
    await svc.start();
    return svc;
  }

  /**
   * Takes a component out entirely (an OTA install whose init failed, or the rollback of one):
   * stopped, off the bus, its retained state `stopped` (the state extension, on `removed`) — not
   * left to its supervisor to retry.
   */
  private async removeService(name: string): Promise<void> {
    const svc = this.services.get(name);
    if (!svc) return;
    this.services.delete(name);
    await svc.stop();
    this.events.removed(name);
  }

  /** messaging.send: to every component whose grant receives it, and out to the broker. */
  private route(from: string, topic: string, payload: Uint8Array): void {
    this.bus.publish(from, topic, payload, (r) => this.log.warn({ component: from, topic, rejected: r }, 'message not delivered'));
    const conn = this.broker.connection;
    if (conn.connected) conn.publish(topics.messages(this.prefix, this.id, from, topic), Buffer.from(payload), { qos: 0 }).catch(() => {});
  }

  private lifecycle(e: LifecycleEvent, svc: ComponentService): void {
    this.log.info({ component: svc.name, state: e.state, reason: e.reason }, 'component state');
    this.events.lifecycle(svc.name, e);
  }

  /** After a swap (OTA activation or rollback): the same lifecycle state, the new version, now. */
  private versionChanged(svc: ComponentService): void {
    this.log.info({ component: svc.name, version: svc.host.version }, 'component version changed');
    this.events.version(svc.name);
  }

  /** Stops in reverse order of start; safe after a start that failed half-way. */
  async stop(): Promise<void> {
    this.systemd?.stopping();
    await this.groups.features?.stop();
    await this.groups.core?.stop();
    for (const u of this.unsubscribe.splice(0)) u();
    this.refusals.close();
    for (const svc of [...this.services.values()].reverse()) await svc.stop();
    // Each service's `stopped` state (with its real restart count) is the last retained state.
    await this.groups.beforeComponents?.stop();
    await this.publisher?.stop();
    this.outbox?.flush();
    await this.broker?.stop();
    this.link?.dispose();
    this.outbox?.close();
    this.storage?.close();
    await this.board?.close();
    await this.audit?.close();
    if (!this.opts.shared) await this.buildWorker.close();
    await this.dataDirLock?.release();
  }
}
