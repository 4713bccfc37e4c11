import { mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import pino, { type Logger } from 'pino';
import { createBoard, checkManifestAgainstBoard, type Board, type BoardSpec } from '../drivers/board.js';
import type { TelemetrySample } from '../drivers/pipeline/host-calls.js';
import { checkDeviceConflicts } from '../drivers/ownership.js';
import type { SimBoard } from '../drivers/sim-board.js';
import { parseScenario, runScenario } from '../drivers/sim-scenario.js';
import { createAudit, type Audit } from '../drivers/pipeline/audit.js';
import { Metrics } from '../drivers/pipeline/metrics.js';
import { checkManifestAgainstPolicy, parsePolicy, type Policy } from '../drivers/policy/policy.js';
import { Engine, type PreparedComponent } from '../runtime/engine.js';
import { BuildWorker } from '../runtime/build/build-worker.js';
import { sha256Hex } from '../runtime/cache.js';
import { GatewayError } from '../runtime/errors.js';
import { parseManifest, type Manifest } from '../runtime/manifest.js';
import { Bus } from '../runtime/bus/bus.js';
import type { LifecycleEvent } from '../runtime/supervision/types.js';
import type { GatewayConfig } from './config/types.js';
import { ComponentService } from './component/component-service.js';
import { brokerLink, type BrokerLink } from './mqtt/from-config.js';
import { redact } from './mqtt/connection.js';
import { LinkWatch } from './mqtt/link-watch.js';
import { InboundCommands } from './commands/inbound.js';
import { ThrottledLog } from './log/throttled.js';
import { topics } from './mqtt/topics.js';
import { Outbox } from './telemetry/outbox.js';
import { createStorage, settleStorage } from './storage/from-config.js';
import type { FileStore } from '../drivers/storage/store.js';
import { TelemetryPublisher } from './telemetry/publisher.js';
import { OtaStore, StoreDamage, type Recovery } from './ota/store.js';
import { OtaUpdater, otaPauseFromEnv, type Activation, type OtaHost } from './ota/updater.js';
import { runtimeManifestSource } from './ota/envelope.js';
import { readPublicKeyFile } from './ota/keys.js';
import { connectionPort } from './ota/connection-port.js';
import { compareSemver } from './ota/semver.js';
import { ExtensionHost, GatewayEvents, extensionsFor } from './extensions/index.js';
import { startSystemdService, type SystemdService } from './service/systemd.js';
import { DataDirLock } from './datadir/lock.js';
import { isNoSpace } from './ota/space.js';
import { OtaError } from './ota/reasons.js';

/**
 * The gateway process (`airssys start`): config → board → components under supervision →
 * broker, durable telemetry, commands, OTA. Startup refuses a config that asks for more than its
 * policy allows or that two components cannot share, before any device is touched: the gateway
 * never runs half-configured.
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

interface Loaded {
  manifest: Manifest;
  bytes: Uint8Array;
  prepared: PreparedComponent;
  source: 'config' | 'ota';
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
  ota: OtaUpdater | undefined;
  /** Component lifecycle, removal, version and OTA events, for extensions (gateway/extensions/). */
  readonly events = new GatewayEvents();
  private extensions: ExtensionHost | undefined;
  /** Refusals of inbound traffic (commands, junk OTA envelopes): counted, logged a few lines per window. */
  readonly refusals: ThrottledLog;
  private commands!: InboundCommands;
  private link: LinkWatch | undefined;
  private policy!: Policy;
  private dataDirLock: DataDirLock | undefined;
  private healthTimer: NodeJS.Timeout | undefined;
  private systemd: SystemdService | undefined;
  private readonly prefix: string;
  private readonly id: string;
  private readonly unsubscribe: Array<() => void> = [];
  private readonly adminRetry: RegExp;

  constructor(private readonly opts: GatewayOptions) {
    this.config = opts.config;
    this.log = opts.logger ?? pino({ level: opts.config.log.level, base: { gw: opts.config.gateway.id } });
    this.prefix = opts.config.mqtt.topicPrefix;
    this.id = opts.config.gateway.id;
    this.refusals = new ThrottledLog({ sink: (level, fields, message) => this.log[level](fields, message) });
    this.buildWorker = opts.shared?.buildWorker ?? new BuildWorker({ idleMs: 60_000 });
    this.adminRetry = new RegExp(`^${escapeRe(this.prefix)}/gw/${escapeRe(this.id)}/admin/([^/]+)/retry$`);
  }

  async start(): Promise<void> {
    const { config } = this;
    const dataDir = config.gateway.dataDir;
    await mkdir(dataDir, { recursive: true });
    // First: one gateway per data dir (a second one would share the outbox, the store and the client id).
    const { lock, tookOver } = await DataDirLock.acquire(dataDir);
    this.dataDirLock = lock;
    if (tookOver) this.log.warn({ lock: lock.path, previous: tookOver.owner }, `took over the data directory lock: ${tookOver.why} (the last gateway did not stop cleanly)`);
    this.policy = parsePolicy(config.policy);

    // 1. Everything that can be refused is checked before a device or the broker is touched.
    const manifests = config.components.map((c) => c.manifest);
    const names = new Set<string>();
    for (const m of manifests) {
      if (names.has(m.name)) throw new GatewayError('INVALID_CONFIG', `config components: two components are named ${m.name}; give each a unique name`);
      names.add(m.name);
      const violations = checkManifestAgainstPolicy(m, this.policy);
      if (violations.length) throw new GatewayError('CAPABILITY_DENIED', `${violations[0]}${violations.length > 1 ? ` (and ${violations.length - 1} more)` : ''}; grant it through policy.roles / policy.components or reduce the manifest`);
    }
    const conflicts = checkDeviceConflicts(manifests);
    if (conflicts.length) throw new GatewayError('INVALID_CONFIG', `${conflicts[0]}; give each device to one component`);

    // Cold builds (jco) run on a worker thread: ticks keep their rhythm while an OTA release is
    // prepared, and jco's memory goes away with the worker once it idles.
    this.engine = this.opts.shared?.engine ?? new Engine({ cacheDir: join(dataDir, 'cache'), builder: this.buildWorker });
    const store = await OtaStore.open(dataDir);
    // Settle interrupted OTA activations before choosing what to run: a version still `pending`
    // (the process died while activating it or in its probation) must not be the one started.
    const recovered = await store.recover();
    const loaded = new Map<string, Loaded>();
    for (const c of config.components) loaded.set(c.manifest.name, await this.loadComponent(c.source, c.manifest, store));
    // Components installed over OTA that the config does not list run from the store.
    for (const name of store.components()) {
      if (loaded.has(name)) continue;
      const l = await this.loadInstalled(name, store, [...loaded.values()].map((x) => x.manifest));
      if (l) loaded.set(name, l);
    }

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
    for (const l of loaded.values()) {
      const problems = checkManifestAgainstBoard(l.manifest, this.board);
      if (problems.length) {
        await this.board.close();
        throw new GatewayError('INVALID_CONFIG', `${problems[0]}; correct the manifest or the board`);
      }
    }
    this.audit = createAudit({ file: join(dataDir, 'audit.log') });
    this.storage = createStorage(dataDir, config.storage.flushMs, this.log);
    settleStorage(this.storage, recovered, this.log);

    // 2. Durable telemetry first, so not one sample of init is lost even with no broker yet.
    const t = config.telemetry;
    this.outbox = new Outbox({ path: join(dataDir, 'telemetry.db'), maxBytes: t.outboxMaxBytes, maxAgeMs: t.outboxMaxAgeMs, commitIntervalMs: t.commitIntervalMs, memoryMaxBytes: t.memoryMaxBytes, synchronous: t.synchronous, log: (level, message) => this.log[level]({ source: 'outbox' }, message) });
    this.broker = brokerLink(config, { version: GATEWAY_VERSION });
    // Watching before the first attempt, so a broker that is down from the start is reported.
    if (!this.broker.embedded) this.link = new LinkWatch(this.broker.connection, redact(config.mqtt.url), (level, fields, message) => this.log[level](fields, message));
    await this.broker.start();
    const conn = this.broker.connection;
    this.publisher = new TelemetryPublisher({ outbox: this.outbox, connection: conn, topicPrefix: this.prefix, gatewayId: this.id, window: t.inflightWindow });
    this.publisher.start();

    // 3. Components, each under its own supervisor; then the simulated signals, if any.
    for (const l of loaded.values()) await this.startService(l.manifest, l.prepared);
    if (parsedScenario) this.unsubscribe.push(runScenario(this.board as SimBoard, parsedScenario));

    // 4. Commands from the broker, operator retries, and OTA.
    this.commands = new InboundCommands({
      prefix: this.prefix,
      gatewayId: this.id,
      config: config.commands,
      target: (name) => {
        const svc = this.services.get(name);
        return svc && { version: svc.host.version, memoryMb: svc.manifest.limits.memoryMb, receives: (t) => svc.receives(t), deliver: (t, p) => svc.deliverMessage('broker', t, p) };
      },
      denied: (component, version, target) => this.audit.denied({ component, version, op: 'messaging.receive', target, reason: 'command topic not in messaging.receive' }),
      log: this.refusals,
    });
    const onMessage = (topic: string, payload: Buffer) => this.onBrokerMessage(topic, payload);
    conn.on('message', onMessage);
    // Retained component states made while offline (startup, an outage) go out on every connect.
    const onConnect = () => this.republishStates();
    conn.on('connect', onConnect);
    this.unsubscribe.push(() => conn.off('message', onMessage), () => conn.off('connect', onConnect));
    if (conn.connected) this.republishStates();
    await conn.subscribe(`${this.prefix}/gw/${this.id}/cmd/#`, { qos: 1 });
    await conn.subscribe(`${this.prefix}/gw/${this.id}/admin/+/retry`, { qos: 1 });
    await this.startOta(store, recovered);

    this.healthTimer = setInterval(() => this.publishHealth(), t.healthIntervalMs);
    this.healthTimer.unref?.();
    this.extensions = await ExtensionHost.start(extensionsFor(config), { config, log: this.log, version: GATEWAY_VERSION, connection: conn, events: this.events, services: this.services, metrics: this.metrics, outbox: this.outbox, publisher: this.publisher });
    // Under systemd (Type=notify): READY=1 now, and the liveness-checked watchdog (docs/raspberry-pi.md).
    this.systemd = startSystemdService({ services: this.services, connection: () => this.broker.connection, log: (level, m) => this.log[level]({ source: 'systemd' }, m) });
    this.log.info({ components: [...this.services.keys()], broker: config.mqtt.embedded ? `embedded :${this.broker.embedded?.port ?? config.mqtt.embeddedPort}` : config.mqtt.url }, 'gateway started');
  }

  /**
   * The newest version to run: a committed OTA version above the config's, if it still fits the
   * policy (an operator may have tightened it since), else the config's own.
   */
  private async loadComponent(source: string, manifest: Manifest, store: OtaStore): Promise<Loaded> {
    const installed = store.state(manifest.name).current;
    // A damaged record is opened too, so that its one error line (naming the file) is logged.
    if (store.damageOf(manifest.name) || (installed && compareSemver(installed.version, manifest.version) > 0)) {
      const others = this.config.components.map((c) => c.manifest).filter((m) => m.name !== manifest.name);
      const l = await this.loadInstalled(manifest.name, store, others, manifest.version);
      if (l) return l;
    }
    let bytes: Uint8Array;
    try {
      bytes = await readFile(source);
    } catch (err) {
      throw new GatewayError('INVALID_CONFIG', `component ${manifest.name}: cannot read ${source} (${(err as NodeJS.ErrnoException).code}); build it with \`airssys build\` or fix components[].source`);
    }
    try {
      return { manifest, bytes, prepared: await this.engine.prepare(bytes, { memoryMb: manifest.limits.memoryMb }), source: 'config' };
    } catch (err) {
      if (err instanceof GatewayError) throw new GatewayError(err.code, `component ${manifest.name} (${source}): ${err.message}`);
      throw err;
    }
  }

  /**
   * A version installed over OTA. One that no longer fits the policy, cannot be prepared, or whose
   * record or bytes are damaged (see OtaStore "Damage") is logged in one line and not started: the
   * config's version runs instead (`fallback`), or, for a component only the store knows, it is
   * left stopped rather than refusing to start: the rest of the gateway keeps running.
   */
  private async loadInstalled(name: string, store: OtaStore, others: Manifest[], fallback?: string): Promise<Loaded | undefined> {
    const instead = fallback ? `running the config's ${fallback} instead` : 'left stopped';
    let installed;
    try {
      installed = await store.current(name);
    } catch (err) {
      if (!(err instanceof StoreDamage)) throw err;
      this.log.error({ component: name, file: err.file }, `${err.message}; ${instead}; push a new release to replace it`);
      return undefined;
    }
    if (!installed) return undefined;
    try {
      const manifest = parseManifest(runtimeManifestSource(installed.manifest));
      const problems = [...checkManifestAgainstPolicy(manifest, this.policy), ...checkDeviceConflicts([...others, manifest])];
      if (problems.length) throw new GatewayError('CAPABILITY_DENIED', problems[0]!);
      const bytes = await store.readBytes(installed);
      return { manifest, bytes, prepared: await this.engine.prepare(bytes, { memoryMb: manifest.limits.memoryMb }), source: 'ota' };
    } catch (err) {
      const file = err instanceof StoreDamage ? { file: err.file } : {};
      const fix = err instanceof StoreDamage ? 'push a new release to replace it' : 'list it in the config or push a version that fits';
      this.log.error({ component: name, version: installed.version, ...file }, `installed over OTA (${installed.version}) but not started: ${(err as Error).message}; ${instead}; ${fix}`);
      return undefined;
    }
  }

  private async startService(manifest: Manifest, prepared: PreparedComponent): Promise<ComponentService> {
    const name = manifest.name;
    const clog = this.log.child({ component: name });
    const svc = new ComponentService({
      manifest,
      prepared,
      board: this.board,
      audit: this.audit,
      metrics: this.metrics,
      rateLimits: this.config.rateLimits,
      sinks: {
        telemetry: (channel: string, sample: TelemetrySample) => {
          const body = 'value' in sample ? { value: sample.value } : { json: JSON.stringify(sample.json) };
          this.outbox.append(name, channel, body);
          // Extensions' telemetry tap (the status page's charts): nothing is built when none listens.
          if (this.events.sampling) this.events.sample(name, channel, body, Date.now());
        },
        message: (topic: string, payload: Uint8Array) => this.route(name, topic, payload),
        log: (level, message) => clog[level]({ source: 'component' }, message),
      },
      bus: this.bus,
      storage: this.storage,
      onLifecycle: (e, s) => this.publishState(e, s),
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
   * stopped, off the bus, its retained state `stopped` — not left to its supervisor to retry.
   */
  private async removeService(name: string): Promise<void> {
    const svc = this.services.get(name);
    if (!svc) return;
    this.services.delete(name);
    await svc.stop();
    const last = this.lastStates.get(name);
    if (last) {
      last.event = { ...last.event, state: 'stopped', ts: Date.now() };
      this.sendState(name);
      this.lastStates.delete(name);
    }
    this.events.removed(name);
  }

  /** messaging.send: to every component whose grant receives it, and out to the broker. */
  private route(from: string, topic: string, payload: Uint8Array): void {
    this.bus.publish(from, topic, payload, (r) => this.log.warn({ component: from, topic, rejected: r }, 'message not delivered'));
    const conn = this.broker.connection;
    if (conn.connected) conn.publish(`${this.prefix}/gw/${this.id}/messages/${from}/${topic}`, Buffer.from(payload), { qos: 0 }).catch(() => {});
  }

  private onBrokerMessage(topic: string, payload: Buffer): void {
    if (this.commands.handle(topic, payload)) return;
    const admin = this.adminRetry.exec(topic);
    if (admin) {
      const svc = this.services.get(admin[1]!);
      // Anyone on the broker can send these: a flood of retries is a few throttled lines, not one each.
      if (svc) void svc.retry().then(() => this.refusals.note(`admin-retry:${svc.name}`, 'info', { component: svc.name }, 'operator retry'));
    }
  }

  private publishState(e: LifecycleEvent, svc: ComponentService): void {
    this.lastStates.set(svc.name, { event: e, svc });
    this.log.info({ component: svc.name, state: e.state, reason: e.reason }, 'component state');
    this.sendState(svc.name);
    this.events.lifecycle(svc.name, e);
  }

  /**
   * The retained state payload is built when it is sent, not when the lifecycle event happened:
   * an OTA swap or rollback changes the version without a lifecycle event, and the retained state
   * (and its republication on every health tick) must name the version serving now.
   */
  private statePayload(name: string): string | undefined {
    const last = this.lastStates.get(name);
    if (!last) return undefined;
    const { event: e, svc } = last;
    return JSON.stringify({
      state: e.state,
      version: svc.host.version,
      sha256: svc.host.sha256,
      restarts: e.restarts,
      ts: e.ts,
      ...(e.reason ? { reason: e.reason } : {}),
      ...(e.nextRetryAt ? { nextRetryAt: e.nextRetryAt } : {}),
    });
  }

  private republishStates(): void {
    for (const name of this.lastStates.keys()) this.sendState(name);
  }

  private sendState(name: string): Promise<void> {
    const payload = this.statePayload(name);
    const conn = this.broker?.connection;
    // Retained: a late subscriber (airssys status) sees the last state. The connection queues nothing
    // while offline, so the latest states are republished on every connect and health tick.
    if (!payload || !conn?.connected) return Promise.resolve();
    return conn.publish(topics.componentState(this.prefix, this.id, name), payload, { qos: 1, retain: true }).catch(() => {});
  }

  /** After a swap (OTA activation or rollback): the same lifecycle state, the new version, now. */
  private versionChanged(svc: ComponentService): void {
    const last = this.lastStates.get(svc.name);
    if (!last) return;
    last.event = { ...last.event, ts: Date.now() };
    this.log.info({ component: svc.name, version: svc.host.version }, 'component version changed');
    this.sendState(svc.name);
    this.events.version(svc.name);
  }
  private readonly lastStates = new Map<string, { event: LifecycleEvent; svc: ComponentService }>();

  health(): Record<string, unknown> {
    const metrics = this.metrics.snapshot();
    const components: Record<string, unknown> = {};
    for (const [name, s] of this.services) {
      components[name] = {
        version: s.host.version,
        state: s.state,
        events: s.host.stats.events,
        errors: s.host.stats.errors,
        crashes: s.host.stats.crashes,
        fuel: { last: s.host.stats.lastFuel, total: s.host.stats.totalFuel },
        memoryBytes: s.host.memoryBytes(),
        deadlineOverruns: s.host.stats.deadlineOverruns,
        mailbox: { depth: s.ref.mailbox.size, dropped: s.ref.stats.dropped, rejected: s.ref.stats.rejected },
        host: metrics[name],
      };
    }
    return {
      ts: Date.now(),
      uptimeMs: Date.now() - this.startedAt,
      version: GATEWAY_VERSION,
      components,
      outbox: this.outbox.stats(),
      publisher: this.publisher.stats(),
      ...(this.link ? { broker: this.link.status() } : {}),
      ...(this.commands ? { commands: this.commands.stats() } : {}),
      refused: this.refusals.stats(),
    };
  }

  private publishHealth(): void {
    const conn = this.broker.connection;
    if (!conn.connected) return;
    conn.publish(topics.health(this.prefix, this.id), JSON.stringify(this.health()), { qos: 0, retain: true }).catch(() => {});
    for (const name of this.lastStates.keys()) this.sendState(name);
  }

  private async startOta(store: OtaStore, recovered: Recovery[]): Promise<void> {
    const keys = [];
    for (const file of this.config.ota.trustedKeys) keys.push(await readPublicKeyFile(file));
    this.ota = new OtaUpdater({
      mqtt: connectionPort(this.broker.connection),
      store,
      host: this.otaHost(),
      gatewayId: this.id,
      groups: this.config.gateway.groups,
      prefix: this.prefix,
      trustedKeys: keys,
      threshold: this.config.ota.threshold,
      maxArtifactBytes: this.config.ota.maxArtifactBytes,
      probationMs: this.config.ota.probationMs,
      chunkIdleTimeoutMs: this.config.ota.chunkTimeoutMs,
      pauseAt: otaPauseFromEnv(process.env),
      recovered,
      onStatus: (component, status) => this.events.ota(component, status),
      // Config and policy name the components this gateway is meant to have (store and running ones the updater knows).
      isKnown: (name) => this.config.components.some((c) => c.manifest.name === name) || name in this.config.policy.components,
      logRefused: (kind, _component, message) => this.refusals.note(kind, 'warn', { source: 'ota' }, message),
      log: (level, message) => this.log[level]({ source: 'ota' }, message),
    });
    await this.ota.recover();
    await this.ota.start();
    // With trusted keys an OTA may come at any time: have jco loaded in the build worker before it
    // does (in the background; the worker ends again after a minute without builds). A shared worker
    // is its owner's to warm: a thousand simulated gateways must not each load jco.
    if (keys.length > 0 && !this.opts.shared) this.buildWorker.warm().catch((err: Error) => this.log.warn({ err: err.message }, 'build worker did not warm up'));
  }

  /** The runtime side of OTA: validate into the warm cache, swap between events, roll back. */
  private otaHost(): OtaHost {
    return {
      currentVersion: (name) => this.services.get(name)?.host.version,
      checkCapabilities: (manifest) => {
        const out = checkManifestAgainstPolicy(manifest, this.policy);
        out.push(...checkManifestAgainstBoard(manifest, this.board));
        const others = [...this.services.values()].filter((s) => s.name !== manifest.name).map((s) => s.manifest);
        out.push(...checkDeviceConflicts([...others, manifest]));
        return out;
      },
      validate: async (bytes, manifest) => {
        try {
          // Kept for activate(): the same bytes and cap need not be read back and compiled again.
          this.validated = { prepared: await this.engine.prepare(bytes, { memoryMb: manifest.limits.memoryMb }), memoryMb: manifest.limits.memoryMb };
        } catch (err) {
          // The compiled cache entry did not fit on the data dir's filesystem: not the component's fault.
          if (isNoSpace(err)) throw new OtaError('no-space', `compiling into ${join(this.config.gateway.dataDir, 'cache')}: ${(err as Error).message.split('\n')[0]}; free space on the data directory's filesystem and send the release again`);
          throw new OtaError(err instanceof GatewayError && err.code === 'INCOMPATIBLE_WORLD' ? 'incompatible-world' : 'invalid-component', err instanceof Error ? err.message : String(err));
        }
      },
      activate: async (name, manifest, bytes) => this.activate(name, manifest, bytes),
    };
  }

  /** The release the OTA updater validated last (validate → activate is one release at a time). */
  private validated: { prepared: PreparedComponent; memoryMb: number } | undefined;

  private async activate(name: string, manifest: Manifest, bytes: Uint8Array): Promise<Activation> {
    const v = this.validated;
    this.validated = undefined;
    const prepared =
      v && v.memoryMb === manifest.limits.memoryMb && v.prepared.info.sha256 === sha256Hex(bytes)
        ? v.prepared
        : await this.engine.prepare(bytes, { memoryMb: manifest.limits.memoryMb });
    let svc = this.services.get(name);
    const previous = svc ? { manifest: svc.manifest, prepared: svc.host.currentPrepared } : undefined;
    if (!svc) {
      // A component the config does not list yet: OTA installs it. Its bucket (left by an earlier
      // install, or none) is kept aside like at any swap, and comes back if the install goes.
      if (manifest.capabilities.storage) this.storage.setAside(name, manifest.version);
      svc = await this.startService(manifest, prepared);
      if (!svc.host.running) {
        const why = svc.host.stats.lastFailure?.message ?? 'unknown';
        await this.removeService(name);
        if (manifest.capabilities.storage) this.storage.restoreAside(name);
        throw new OtaError('init-failed', `init of ${name} ${manifest.version} failed: ${why}`);
      }
    } else {
      const outcome = await svc.swap(manifest, prepared);
      if (!outcome.ok) throw new OtaError('init-failed', `init of ${name} ${manifest.version} failed (${outcome.kind}): ${outcome.message}`);
      this.versionChanged(svc);
    }
    const service = svc;
    let errors = 0;
    // The first crash is kept: the updater subscribes only after it has recorded probation on disk,
    // and a crash on the very first event must still roll the release back.
    let firstCrash: string | undefined;
    const crashListeners: Array<(reason: string) => void> = [];
    const off = service.onOutcome((event, outcome) => {
      if (outcome.ok) return;
      if (outcome.kind === 'returned-err') errors++;
      else {
        firstCrash ??= `${outcome.kind} in ${event}: ${outcome.message}`;
        for (const cb of crashListeners) cb(firstCrash);
      }
    });
    return {
      onCrash: (cb) => {
        crashListeners.push(cb);
        if (firstCrash !== undefined) cb(firstCrash);
      },
      errorCount: () => errors,
      dispose: () => {
        off();
        service.committed();
      },
      rollback: async () => {
        off();
        if (!previous) {
          await this.removeService(name);
          if (manifest.capabilities.storage) this.storage.restoreAside(name);
          return;
        }
        const outcome = await service.swap(previous.manifest, previous.prepared, { force: true });
        if (!outcome.ok) {
          // The old version's init failed too: it stays the current version and the supervisor
          // restarts it with backoff (never the version being rolled back).
          this.log.error({ component: name }, `rollback init failed (${outcome.kind}): ${outcome.message}; the supervisor restarts ${previous.manifest.version}`);
        }
        this.versionChanged(service);
      },
    };
  }

  /** Stops in reverse order of start; safe after a start that failed half-way. */
  async stop(): Promise<void> {
    this.systemd?.stopping();
    await this.extensions?.stop();
    if (this.healthTimer) clearInterval(this.healthTimer);
    for (const u of this.unsubscribe.splice(0)) u();
    this.refusals.close();
    await this.ota?.stop();
    for (const svc of [...this.services.values()].reverse()) await svc.stop();
    // Each service's `stopped` state (with its real restart count) is the last retained state.
    await Promise.all([...this.lastStates.keys()].map((name) => this.sendState(name)));
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

const escapeRe = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
