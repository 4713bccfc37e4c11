import { join } from 'node:path';
import type { Logger } from 'pino';
import type { PreparedComponent } from '../../../runtime/engine.js';
import { sha256Hex } from '../../../runtime/cache.js';
import { GatewayError } from '../../../runtime/errors.js';
import type { Manifest } from '../../../runtime/manifest.js';
import type { ComponentService } from '../../component/component-service.js';
import type { GatewayConfig } from '../../config/types.js';
import type { ThrottledLog } from '../../log/throttled.js';
import type { MqttConnection } from '../../mqtt/connection.js';
import { connectionPort } from '../../ota/connection-port.js';
import { readPublicKeyFile } from '../../ota/keys.js';
import { isNoSpace } from '../../ota/space.js';
import type { OtaStore, Recovery } from '../../ota/store.js';
import { OtaError } from '../../ota/reasons.js';
import { OtaUpdater, otaPauseFromEnv, type Activation, type OtaHost, type OtaStatus } from '../../ota/updater.js';
import type { FileStore } from '../../../drivers/storage/store.js';
import type { Extension } from '../extension.js';

/** The components as OTA may change them: the composition root owns them, OTA asks. */
export interface OtaComponents {
  get(name: string): ComponentService | undefined;
  /** Starts a component the gateway does not run yet (under supervision, with its state published). */
  start(manifest: Manifest, prepared: PreparedComponent): Promise<ComponentService>;
  /** Takes a component out entirely: stopped, off the bus, its retained state `stopped`. */
  remove(name: string): Promise<void>;
  /** After a swap (activation or rollback): another version serves now. */
  versionChanged(svc: ComponentService): void;
  /** Reserves telemetry for the channels of a version about to be swapped in (before its init). */
  declareChannels(manifest: Manifest): void;
}

export interface OtaExtensionOptions {
  config: GatewayConfig;
  connection: MqttConnection;
  store: OtaStore;
  /** Activations the store settled at open (interrupted by a restart). */
  recovered: Recovery[];
  components: OtaComponents;
  /** The one admission check (gateway/admission.ts) against the components beside this one. */
  admit(manifest: Manifest): string[];
  /** Compile into the warm cache (Engine.prepare). */
  prepare(bytes: Uint8Array, memoryMb: number): Promise<PreparedComponent>;
  /** Components' storage buckets: a first install's bucket is set aside and comes back if the install goes. */
  storage: FileStore;
  /** Have jco loaded before a release comes; absent when the build worker is shared (its owner warms it). */
  warm?: () => Promise<void>;
  onStatus(component: string, status: OtaStatus): void;
  refusals: ThrottledLog;
  log: Logger;
}

/**
 * OTA hosting: the updater (gateway/ota/updater.ts: envelopes, chunks, signatures, probation) on
 * the gateway's broker session, and the runtime side it calls — validate a release into the warm
 * cache, swap it in between events, roll it back.
 */
export class OtaExtension implements Extension {
  readonly name = 'ota';
  private ota: OtaUpdater | undefined;
  /** The release the updater validated last (validate → activate is one release at a time). */
  private validated: { prepared: PreparedComponent; memoryMb: number } | undefined;

  constructor(private readonly opts: OtaExtensionOptions) {}

  get updater(): OtaUpdater | undefined {
    return this.ota;
  }

  async start(): Promise<void> {
    const { config, log, refusals } = this.opts;
    const keys = [];
    for (const file of config.ota.trustedKeys) keys.push(await readPublicKeyFile(file));
    this.ota = new OtaUpdater({
      mqtt: connectionPort(this.opts.connection),
      store: this.opts.store,
      host: this.host(),
      gatewayId: config.gateway.id,
      groups: config.gateway.groups,
      prefix: config.mqtt.topicPrefix,
      trustedKeys: keys,
      threshold: config.ota.threshold,
      maxArtifactBytes: config.ota.maxArtifactBytes,
      probationMs: config.ota.probationMs,
      chunkIdleTimeoutMs: config.ota.chunkTimeoutMs,
      pauseAt: otaPauseFromEnv(process.env),
      recovered: this.opts.recovered,
      onStatus: (component, status) => this.opts.onStatus(component, status),
      // Config and policy name the components this gateway is meant to have (store and running ones the updater knows).
      isKnown: (name) => config.components.some((c) => c.manifest.name === name) || config.policy.components.has(name),
      logRefused: (kind, _component, message) => refusals.note(kind, 'warn', { source: 'ota' }, message),
      log: (level, message) => log[level]({ source: 'ota' }, message),
    });
    await this.ota.recover();
    await this.ota.start();
    // With trusted keys an OTA may come at any time: have jco loaded in the build worker before it
    // does (in the background; the worker ends again after a minute without builds).
    if (keys.length > 0 && this.opts.warm) this.opts.warm().catch((err: Error) => log.warn({ err: err.message }, 'build worker did not warm up'));
  }

  async stop(): Promise<void> {
    await this.ota?.stop();
  }

  /** The runtime side of OTA: validate into the warm cache, swap between events, roll back (the updater calls it; tests too). */
  host(): OtaHost {
    const { components } = this.opts;
    return {
      currentVersion: (name) => components.get(name)?.host.version,
      checkCapabilities: (manifest) => this.opts.admit(manifest),
      validate: async (bytes, manifest) => {
        try {
          // Kept for activate(): the same bytes and cap need not be read back and compiled again.
          this.validated = { prepared: await this.opts.prepare(bytes, manifest.limits.memoryMb), memoryMb: manifest.limits.memoryMb };
        } catch (err) {
          // The compiled cache entry did not fit on the data dir's filesystem: not the component's fault.
          if (isNoSpace(err)) throw new OtaError('no-space', `compiling into ${join(this.opts.config.gateway.dataDir, 'cache')}: ${(err as Error).message.split('\n')[0]}; free space on the data directory's filesystem and send the release again`);
          const code = err instanceof GatewayError && err.code === 'INCOMPATIBLE_WORLD' ? 'incompatible-world' : 'invalid-component';
          throw new OtaError(code, err instanceof Error ? err.message : String(err));
        }
      },
      activate: async (name, manifest, bytes) => this.activate(name, manifest, bytes),
    };
  }

  private async activate(name: string, manifest: Manifest, bytes: Uint8Array): Promise<Activation> {
    const { components, log } = this.opts;
    const v = this.validated;
    this.validated = undefined;
    const prepared =
      v && v.memoryMb === manifest.limits.memoryMb && v.prepared.info.sha256 === sha256Hex(bytes)
        ? v.prepared
        : await this.opts.prepare(bytes, manifest.limits.memoryMb);
    let svc = components.get(name);
    const previous = svc ? { manifest: svc.manifest, prepared: svc.host.currentPrepared } : undefined;
    if (!svc) {
      // A component the config does not list yet: OTA installs it. Its bucket (left by an earlier
      // install, or none) is kept aside like at any swap, and comes back if the install goes.
      if (manifest.capabilities.storage) this.opts.storage.setAside(name, manifest.version);
      svc = await components.start(manifest, prepared);
      if (!svc.host.running) {
        const why = svc.host.stats.lastFailure?.message ?? 'unknown';
        await components.remove(name);
        if (manifest.capabilities.storage) this.opts.storage.restoreAside(name);
        throw new OtaError('init-failed', `init of ${name} ${manifest.version} failed: ${why}`);
      }
    } else {
      components.declareChannels(manifest);
      const outcome = await svc.swap(manifest, prepared);
      if (!outcome.ok) throw new OtaError('init-failed', `init of ${name} ${manifest.version} failed (${outcome.kind}): ${outcome.message}`);
      components.versionChanged(svc);
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
          await components.remove(name);
          if (manifest.capabilities.storage) this.opts.storage.restoreAside(name);
          return;
        }
        const outcome = await service.swap(previous.manifest, previous.prepared, { force: true });
        if (!outcome.ok) {
          // The old version's init failed too: it stays the current version and the supervisor
          // restarts it with backoff (never the version being rolled back).
          log.error({ component: name }, `rollback init failed (${outcome.kind}): ${outcome.message}; the supervisor restarts ${previous.manifest.version}`);
        }
        components.versionChanged(service);
      },
    };
  }
}
