import type { KeyObject } from 'node:crypto';
import { GatewayError } from '../../runtime/errors.js';
import type { Manifest } from '../../runtime/manifest.js';
import { discardPartial, fetchArtifact, partialPath } from './chunks.js';
import { checkEnvelope, sha256Hex, type Release } from './envelope.js';
import { trustStore } from './keys.js';
import type { MessageListener, MqttPort } from './mqtt-port.js';
import { isPhase, OtaError, type Phase, type Reason } from './reasons.js';
import { maxVersion } from './semver.js';
import { RecentSet } from './recent.js';
import { clip } from '../../runtime/echo.js';
import type { OtaStore, Recovery } from './store.js';
import { checkSpace, isNoSpace, noSpaceError } from './space.js';

/**
 * The per-gateway OTA state machine (contract sections 4 and 5).
 *
 *   received → downloading → verifying → staged → activating → probation → committed
 *                     ↘ rejected (reason)                      ↘ rolled-back (reason)
 *
 * Releases for one component run one after another; different components run in parallel.
 * Everything before `activating` touches nothing but the status topic and the partial-download
 * directory, so a rejection leaves the store as it was. From `activating` to `committed` the store
 * carries a `pending` marker: a restart in that window reverts to the last committed version.
 *
 * Replays: an envelope is identified by the SHA-256 of its bytes. One that is in flight or queued
 * for the same component, already committed (it is the current version's envelope) or already
 * rolled back is ignored with no status change. A different envelope whose version is not above the
 * floor is `downgrade`. Deterministic rejections are remembered by topic + hash, for the last
 * `rememberRejected` (256) of them: the same bytes published first on another topic (a decoy
 * `…/ota/decoy`) cannot make the gateway ignore them on the right one.
 *
 * Status topics: a retained status is published only for a component this gateway has or had (the
 * `isKnown` hook: config and policy; a running version; a store record) or for an envelope whose
 * signatures verified. Junk for made-up names (unsigned, badly signed) leaves no retained topic
 * behind; it is counted and logged through `logRefused` (throttled by the gateway).
 */

export interface Activation {
  /** Called at once if the new version already crashed before the updater subscribed. */
  onCrash(cb: (reason: string) => void): void;
  errorCount(): number;
  rollback(): Promise<void>;
  /** Stop watching the new version (after commit; rollback implies it). */
  dispose?(): void;
}

/** What the updater needs from the runtime; the gateway wires it to the supervisor. */
export interface OtaHost {
  currentVersion(component: string): string | undefined;
  /** Policy violations; [] when the manifest fits. */
  checkCapabilities(manifest: Manifest): string[];
  /** Throws GatewayError with code 'incompatible-world' | 'invalid-component'; fills the warm cache. */
  validate(bytes: Uint8Array, manifest: Manifest): Promise<void>;
  /** Starts the new instance, runs init, swaps atomically; throws GatewayError code 'init-failed'. */
  activate(component: string, manifest: Manifest, bytes: Uint8Array): Promise<Activation>;
}

export interface OtaStatus {
  version: string;
  phase: Phase;
  reason: Reason | '';
  detail: string;
  ts: number;
  /** SHA-256 of the envelope bytes this status is about (lets `push` recognise its own release). */
  envelope: string;
}

export interface UpdaterOptions {
  mqtt: MqttPort;
  store: OtaStore;
  host: OtaHost;
  gatewayId: string;
  groups?: string[];
  prefix?: string;
  trustedKeys: KeyObject[] | ReadonlyMap<string, KeyObject>;
  threshold?: number;
  maxArtifactBytes?: number;
  maxEnvelopeBytes?: number;
  /** How long a new version is watched before commit (default 10 s). */
  probationMs?: number;
  /** More handled errors than this during probation roll back (default 10). */
  maxProbationErrors?: number;
  chunkIdleTimeoutMs?: number;
  downloadTimeoutMs?: number;
  /** Headroom the data directory must keep beyond what a release writes (default 1 MiB; see space.ts). */
  spaceMarginBytes?: number;
  now?: () => number;
  /** Test hook: stop (forever) right after reporting this phase, so a test can SIGKILL there. Env AIRSSYS_OTA_PAUSE_AT. */
  pauseAt?: Phase;
  /**
   * Recoveries the caller already settled with `store.recover()` (the gateway does so before it
   * chooses which versions to start); they are reported by `start` as if `recover` had found them.
   */
  recovered?: Recovery[];
  /** Called after each status is published (awaited). */
  onStatus?: (component: string, status: OtaStatus) => void | Promise<void>;
  /** Components this gateway has or had beyond its store and running versions (config, policy). */
  isKnown?: (component: string) => boolean;
  /** How many rejected envelopes are remembered (default 256). */
  rememberRejected?: number;
  /** Refused junk and ignored replays, one call each (the gateway throttles them); else `log` at info. */
  logRefused?: (kind: string, component: string, message: string) => void;
  log?: (level: 'info' | 'warn' | 'error', message: string) => void;
}

export const DEFAULT_MAX_ARTIFACT_BYTES = 32 * 1024 * 1024;
export const DEFAULT_PROBATION_MS = 10_000;
export const DEFAULT_MAX_PROBATION_ERRORS = 10;

export const otaTopic = (prefix: string, gatewayId: string, component: string) => `${prefix}/gw/${gatewayId}/ota/${component}`;
export const groupOtaTopic = (prefix: string, group: string, component: string) => `${prefix}/group/${group}/ota/${component}`;
export const statusTopic = (prefix: string, gatewayId: string, component: string) => `${prefix}/gw/${gatewayId}/ota/${component}/status`;

class Stopped extends Error {}

/** Rejections that come before any trusted signature verified: anyone on the broker can cause them. */
const UNAUTHENTICATED: readonly Reason[] = ['bad-envelope', 'bad-signature', 'untrusted-key'];

/** Rejections that would come out the same on every retry; retained replays of them are ignored this session. */
const DETERMINISTIC: readonly Reason[] = ['bad-envelope', 'bad-signature', 'untrusted-key', 'not-targeted', 'downgrade', 'too-large', 'capability-denied', 'incompatible-world', 'invalid-component'];

export interface StartReport {
  recovered: Recovery[];
  /** What each stored component runs now. */
  current: { component: string; version: string }[];
}

export class OtaUpdater {
  private readonly prefix: string;
  private readonly trusted: ReadonlyMap<string, KeyObject>;
  private readonly inFlight = new Set<string>();
  private readonly rejected: RecentSet;
  private readonly chains = new Map<string, Promise<void>>();
  private readonly stopCtl = new AbortController();
  private recovered: Recovery[] | undefined;
  private started = false;
  private readonly pauseAt: Phase | undefined;
  private readonly listener: MessageListener = (topic, payload) => this.onMessage(topic, payload);

  constructor(private readonly opts: UpdaterOptions) {
    this.prefix = opts.prefix ?? 'airssys';
    this.trusted = opts.trustedKeys instanceof Map ? opts.trustedKeys : trustStore(opts.trustedKeys as KeyObject[]);
    const envPause = process.env.AIRSSYS_OTA_PAUSE_AT;
    this.pauseAt = opts.pauseAt ?? (isPhase(envPause) ? envPause : undefined);
    this.recovered = opts.recovered;
    this.rejected = new RecentSet(opts.rememberRejected ?? 256);
  }

  get topics(): string[] {
    return [`${this.prefix}/gw/${this.opts.gatewayId}/ota/+`, ...(this.opts.groups ?? []).map((g) => `${this.prefix}/group/${g}/ota/+`)];
  }

  /**
   * Settles anything a restart interrupted (a version still pending goes back to the last committed
   * one) and reports it. Call before starting components from the store; `start` calls it if needed.
   */
  async recover(): Promise<Recovery[]> {
    if (this.recovered) return this.recovered;
    this.recovered = await this.opts.store.recover();
    return this.recovered;
  }

  async start(): Promise<StartReport> {
    const recovered = await this.recover();
    if (!this.started) {
      this.started = true;
      for (const r of recovered) {
        const to = r.current ? r.current.version : 'the configured version';
        const detail = `gateway restarted during ${r.phase} of ${r.reverted.version}; back on ${to}`;
        this.publish(r.component, {
          version: r.reverted.version,
          phase: 'rolled-back',
          reason: r.phase === 'activating' ? 'init-failed' : 'crashed-in-probation',
          detail,
          ts: this.now(),
          envelope: r.reverted.envelopeSha256 ?? '',
        });
        this.opts.log?.('warn', `ota ${r.component}: ${detail}`);
      }
      this.opts.mqtt.on('message', this.listener);
      await new Promise<void>((resolve, reject) => this.opts.mqtt.subscribe(this.topics, { qos: 1 }, (err) => (err ? reject(err) : resolve())));
    }
    const current: StartReport['current'] = [];
    for (const c of this.opts.store.components()) {
      const v = this.opts.store.state(c).current?.version;
      if (v) current.push({ component: c, version: v });
    }
    return { recovered, current };
  }

  /** Stops listening; releases in flight stop at their next step (a pending activation is settled on next start). */
  async stop(): Promise<void> {
    this.opts.mqtt.removeListener('message', this.listener);
    if (this.started) this.opts.mqtt.unsubscribe(this.topics, () => undefined);
    this.stopCtl.abort();
    await this.idle();
  }

  /** Resolves when every queued release has finished. */
  async idle(): Promise<void> {
    for (;;) {
      const all = [...this.chains.values()];
      if (all.length === 0) return;
      await Promise.allSettled(all);
      if ([...this.chains.values()].every((p) => all.includes(p))) return;
    }
  }

  private now(): number {
    return (this.opts.now ?? Date.now)();
  }

  private componentOf(topic: string): string | undefined {
    const p = topic.split('/');
    const pre = this.prefix.split('/');
    if (p.length !== pre.length + 4 || p.slice(0, pre.length).join('/') !== this.prefix) return undefined;
    const [kind, who, ota, name] = p.slice(pre.length);
    if (ota !== 'ota') return undefined;
    if (kind === 'gw' && who === this.opts.gatewayId) return name;
    if (kind === 'group' && (this.opts.groups ?? []).includes(who!)) return name;
    return undefined;
  }

  private onMessage(topic: string, payload: Buffer): void {
    const component = this.componentOf(topic);
    if (component === undefined || payload.length === 0) return;
    void this.handle(component, payload, topic);
  }

  /**
   * Entry point for one envelope (also used by tests). Resolves when this release is settled or
   * ignored. `topic` (default: the component name) scopes the memory of rejections.
   */
  handle(component: string, payload: Uint8Array, topic: string = component): Promise<void> {
    const envSha = sha256Hex(payload);
    const st = this.opts.store.state(component);
    const flight = `${component}\n${envSha}`;
    const rejectKey = `${topic}\n${envSha}`;
    const ignore =
      this.inFlight.has(flight) ||
      this.rejected.has(rejectKey) ||
      (st.current?.envelopeSha256 === envSha && !st.pending) ||
      this.opts.store.isRolledBack(component, envSha);
    if (ignore) {
      this.refused('ota-replay', component, `ota ${clip(component)}: envelope ${envSha.slice(0, 12)} seen again; ignored`);
      return Promise.resolve();
    }
    this.inFlight.add(flight);
    const prev = this.chains.get(component) ?? Promise.resolve();
    const run = prev
      .then(() => this.process(component, Buffer.from(payload), envSha, rejectKey))
      .catch((err) => {
        if (!(err instanceof Stopped)) this.opts.log?.('error', `ota ${component}: ${(err as Error).stack ?? String(err)}`);
      })
      .finally(() => {
        this.inFlight.delete(flight);
        if (this.chains.get(component) === run) this.chains.delete(component);
      });
    this.chains.set(component, run);
    return run;
  }

  private refused(kind: string, component: string, message: string): void {
    if (this.opts.logRefused) this.opts.logRefused(kind, component, message);
    else this.opts.log?.('info', message);
  }

  /** Whether this gateway has or had `component` (see the class comment on status topics). */
  private known(component: string): boolean {
    return this.opts.host.currentVersion(component) !== undefined || this.opts.store.components().includes(component) || (this.opts.isKnown?.(component) ?? false);
  }

  private publish(component: string, status: OtaStatus): void {
    // QoS 1, not awaited: while the broker is away MQTT.js queues it and the release carries on.
    this.opts.mqtt.publish(statusTopic(this.prefix, this.opts.gatewayId, component), JSON.stringify(status), { qos: 1, retain: true }, (err) => {
      if (err) this.opts.log?.('warn', `ota ${component}: status not published: ${err.message}`);
    });
  }

  /** `quiet`: the status is published but not logged (the caller logged it, throttled). */
  private async report(component: string, version: string, envelope: string, phase: Phase, reason: Reason | '' = '', detail = '', quiet = false): Promise<void> {
    if (this.stopCtl.signal.aborted) throw new Stopped();
    const status: OtaStatus = { version, phase, reason, detail, ts: this.now(), envelope };
    this.publish(component, status);
    if (!quiet) this.opts.log?.(phase === 'rejected' || phase === 'rolled-back' ? 'warn' : 'info', `ota ${component} ${version}: ${phase}${reason ? ` (${reason})` : ''}${detail ? `: ${detail}` : ''}`);
    await this.opts.onStatus?.(component, status);
    if (this.pauseAt === phase) {
      this.opts.log?.('warn', `ota ${component}: paused at ${phase} (test hook)`);
      await new Promise<never>((_, reject) => this.stopCtl.signal.addEventListener('abort', () => reject(new Stopped()), { once: true }));
    }
  }

  private async process(component: string, payload: Buffer, envSha: string, rejectKey: string): Promise<void> {
    const { store, host } = this.opts;
    const check = checkEnvelope(payload, {
      gatewayId: this.opts.gatewayId,
      groups: this.opts.groups ?? [],
      trustedKeys: this.trusted,
      threshold: this.opts.threshold ?? 1,
      maxArtifactBytes: this.opts.maxArtifactBytes ?? DEFAULT_MAX_ARTIFACT_BYTES,
      ...(this.opts.maxEnvelopeBytes !== undefined ? { maxEnvelopeBytes: this.opts.maxEnvelopeBytes } : {}),
      component,
      floor: (c) => maxVersion(store.floor(c), host.currentVersion(c)),
      checkCapabilities: (m) => host.checkCapabilities(m),
      now: () => this.now(),
    });
    const claimed = check.ok ? check.release.manifest.version : (check.version ?? '');
    if (!check.ok && UNAUTHENTICATED.includes(check.reason)) {
      this.rejected.add(rejectKey);
      const line = `ota ${clip(component)}: envelope ${envSha.slice(0, 12)} rejected (${check.reason}): ${check.detail}`;
      if (!this.known(component)) {
        // Nobody we trust sent it and no such component is ours: no retained topic for it.
        this.refused('ota-unknown-component', component, `${line}; no status published (no such component here)`);
        return;
      }
      this.refused(`ota-${check.reason}:${component}`, component, line);
      await this.report(component, claimed, envSha, 'received', '', '', true);
      await this.report(component, claimed, envSha, 'rejected', check.reason, check.detail, true);
      return;
    }
    await this.report(component, claimed, envSha, 'received');
    if (!check.ok) {
      this.rejected.add(rejectKey);
      await this.report(component, claimed, envSha, 'rejected', check.reason, check.detail);
      return;
    }
    const release = check.release;
    const step = (phase: Phase, detail = '') => this.report(component, claimed, envSha, phase, '', detail);
    const reject = async (reason: Reason, detail: string) => {
      if (DETERMINISTIC.includes(reason)) this.rejected.add(rejectKey);
      await this.report(component, claimed, envSha, 'rejected', reason, detail);
    };

    // Room on disk for all the release will write, before the first chunk (space.ts).
    const partialDir = store.partialDir;
    const sha = release.manifest.sha256;
    const noSpace = async (err: OtaError) => {
      // What this release wrote goes: the running version keeps running, the store is as it was.
      await discardPartial(partialDir, sha).catch(() => undefined);
      await store.discardStaged(component, release.manifest.version).catch(() => undefined);
      return reject('no-space', err.detail);
    };
    try {
      await checkSpace({ dataDir: store.dataDir, partialDir: partialPath(partialDir, sha), size: release.manifest.size, envelopeBytes: payload.length, ...(this.opts.spaceMarginBytes !== undefined ? { margin: this.opts.spaceMarginBytes } : {}) });
    } catch (err) {
      if (err instanceof OtaError) return noSpace(err);
      throw err;
    }

    // downloading
    await step('downloading', `0/${release.manifest.chunks} chunks`);
    let bytes: Uint8Array;
    try {
      bytes = await this.download(component, release, (detail) => this.report(component, claimed, envSha, 'downloading', '', detail));
    } catch (err) {
      if (err instanceof OtaError && err.reason === 'no-space') return noSpace(err);
      if (err instanceof OtaError) return reject(err.reason, err.detail);
      throw err;
    }

    // verifying: hash and size were checked by the fetcher; now the component against the world.
    await step('verifying');
    try {
      await host.validate(bytes, release.runtime);
    } catch (err) {
      if (err instanceof GatewayError && err.code === 'no-space') return noSpace(new OtaError('no-space', err.message));
      const code = err instanceof GatewayError && err.code === 'incompatible-world' ? 'incompatible-world' : 'invalid-component';
      // These bytes will never be accepted: the downloaded chunks go (a rejection leaves no trace on disk).
      await discardPartial(this.opts.store.partialDir, release.manifest.sha256);
      return reject(code, (err as Error).message);
    }

    // staged: on disk, referenced by nothing yet.
    try {
      await store.stage(release.manifest, bytes, payload);
    } catch (err) {
      if (isNoSpace(err)) return noSpace(noSpaceError(`storing ${component} ${release.manifest.version} in ${store.versionDir(component, release.manifest.version)}`, err));
      throw err;
    }
    await discardPartial(store.partialDir, release.manifest.sha256);
    await step('staged');

    // activating: pointers move first (pending), so a restart from here reverts cleanly.
    try {
      await store.activate(component, { version: release.manifest.version, sha256: release.manifest.sha256, envelopeSha256: envSha });
    } catch (err) {
      // state.json is replaced atomically: a refused write left the old pointers in place.
      if (isNoSpace(err)) return noSpace(noSpaceError(`recording ${component} ${release.manifest.version} as activating`, err));
      throw err;
    }
    await step('activating');
    let activation: Activation;
    try {
      activation = await host.activate(component, release.runtime, bytes);
    } catch (err) {
      await store.rollback(component);
      // The swap could not keep the storage bucket aside on a full disk: not the component's fault.
      const full = isNoSpace(err) || (err instanceof GatewayError && err.code === 'no-space');
      await this.report(component, claimed, envSha, 'rolled-back', full ? 'no-space' : 'init-failed', (err as Error).message);
      return;
    }

    // A full disk after the swap: the new version goes, the old one comes back (if even the rollback
    // cannot be recorded, `pending` stays on disk and the next start reverts).
    const undoNoSpace = async (what: string, err: unknown) => {
      try {
        await activation.rollback();
      } finally {
        await store.rollback(component).catch(() => undefined);
      }
      await this.report(component, claimed, envSha, 'rolled-back', 'no-space', noSpaceError(what, err).detail);
    };

    // probation
    try {
      await store.startProbation(component);
    } catch (err) {
      if (isNoSpace(err)) return undoNoSpace(`recording ${component} ${release.manifest.version} in probation`, err);
      throw err;
    }
    const probationMs = this.opts.probationMs ?? DEFAULT_PROBATION_MS;
    const maxErrors = this.opts.maxProbationErrors ?? DEFAULT_MAX_PROBATION_ERRORS;
    const baseline = activation.errorCount();
    let crashed: string | undefined;
    let wake: () => void = () => undefined;
    const woken = new Promise<void>((r) => (wake = r));
    activation.onCrash((reason) => {
      crashed ??= reason;
      wake();
    });
    await step('probation', `${probationMs} ms, up to ${maxErrors} errors`);
    const timer = setTimeout(wake, probationMs);
    const onStop = () => wake();
    this.stopCtl.signal.addEventListener('abort', onStop, { once: true });
    await woken;
    clearTimeout(timer);
    this.stopCtl.signal.removeEventListener('abort', onStop);
    // Stopped mid-probation: leave `pending`; the next start reverts to the last committed version.
    if (this.stopCtl.signal.aborted) throw new Stopped();
    const errors = activation.errorCount() - baseline;
    if (crashed !== undefined || errors > maxErrors) {
      const detail = crashed !== undefined ? `crashed: ${crashed}` : `${errors} errors in ${probationMs} ms (limit ${maxErrors})`;
      try {
        await activation.rollback();
      } finally {
        await store.rollback(component);
      }
      await this.report(component, claimed, envSha, 'rolled-back', 'crashed-in-probation', detail);
      return;
    }
    try {
      await store.commit(component);
    } catch (err) {
      if (isNoSpace(err)) return undoNoSpace(`committing ${component} ${release.manifest.version}`, err);
      throw err;
    }
    activation.dispose?.();
    await this.report(component, claimed, envSha, 'committed');
  }

  private async download(component: string, release: Release, report: (detail: string) => Promise<void>): Promise<Uint8Array> {
    let last = 0;
    let pending: Promise<void> = Promise.resolve();
    const bytes = await fetchArtifact({
      mqtt: this.opts.mqtt,
      prefix: this.prefix,
      partialDir: this.opts.store.partialDir,
      artifact: release.manifest,
      ...(this.opts.chunkIdleTimeoutMs !== undefined ? { idleTimeoutMs: this.opts.chunkIdleTimeoutMs } : {}),
      ...(this.opts.downloadTimeoutMs !== undefined ? { timeoutMs: this.opts.downloadTimeoutMs } : {}),
      signal: this.stopCtl.signal,
      onProgress: (p) => {
        // Throttled: a retained status per chunk would flood the broker on big components.
        const t = Date.now();
        if (p.received === p.chunks || t - last >= 500) {
          last = t;
          const resumed = p.resumed ? `, ${p.resumed} resumed from disk` : '';
          pending = pending.then(() => report(`${p.received}/${p.chunks} chunks${resumed}`)).catch(() => undefined);
        }
      },
    });
    await pending;
    if (this.stopCtl.signal.aborted) throw new Stopped();
    void component;
    return bytes;
  }
}
