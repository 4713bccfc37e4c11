import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { compareSemver } from '../../ota/semver.js';
import type { OtaStatus } from '../../ota/updater.js';
import type { HomeAssistantConfig } from '../config.js';
import type { Extension, ExtensionContext } from '../extension.js';
import { deviceMessage, deviceTopic, entities, entityMessage, entityTopic, nodeId, updateStateTopic, type DiscoveryGateway, type Entity } from './discovery.js';

/**
 * `homeassistant: { discovery-prefix, legacy }`: Home Assistant MQTT discovery (see discovery.ts for
 * the entities).
 *
 * When configs are (re)published: on every broker connect, when HA announces `online` on
 * `<discovery-prefix>/status` (after a short random delay, as HA recommends, so a fleet does not
 * answer at once), and whenever the set of entities changes (an OTA install, a new version with
 * other channels, a component removed). All discovery messages are retained, QoS 1.
 *
 * Removal: what was last published is remembered in `<data-dir>/homeassistant.json`, so an entity
 * that is gone — a component removed from the config across a restart, an OTA install rolled back —
 * is deleted in HA: device mode publishes the device message once with the entity as `{ "p": … }`
 * and then without it (HA's documented removal); legacy mode publishes an empty retained config.
 * Switching modes, discovery prefix or gateway id clears the old messages the same way.
 */
export class HomeAssistantExtension implements Extension {
  readonly name = 'homeassistant';
  private ctx!: ExtensionContext;
  private gw!: DiscoveryGateway;
  private stateFile!: string;
  private chain: Promise<void> = Promise.resolve();
  private scheduled: NodeJS.Timeout | undefined;
  private force = false;
  private stopped = false;
  private lastSignature = '';
  private readonly latestSeen = new Map<string, string>();
  private readonly lastOta = new Map<string, OtaStatus>();
  private readonly updateSent = new Map<string, string>();

  constructor(private readonly config: HomeAssistantConfig) {}

  async start(ctx: ExtensionContext): Promise<void> {
    this.ctx = ctx;
    this.gw = { id: ctx.gateway.id, version: ctx.gateway.version, topicPrefix: ctx.gateway.topicPrefix };
    this.stateFile = join(ctx.gateway.dataDir, 'homeassistant.json');
    for (const c of ctx.events.otaComponents()) this.seeOta(c, ctx.events.lastOta(c)!);

    ctx.events.on('lifecycle', () => this.schedule(false));
    ctx.events.on('version', () => this.schedule(false));
    ctx.events.on('removed', () => this.schedule(false));
    ctx.events.on('ota', (c, s) => {
      this.seeOta(c, s);
      this.schedule(false);
    });
    ctx.mqtt.onConnect(() => this.schedule(true, 0));
    await ctx.mqtt.subscribe(this.config.statusTopic, (_t, payload) => {
      if (payload.toString().trim() === 'online') this.schedule(true, Math.floor(Math.random() * 500));
    }, { qos: 1 });
    if (ctx.mqtt.connected) {
      this.schedule(true, 0);
      await this.idle();
    }
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.scheduled) clearTimeout(this.scheduled);
    await this.chain;
  }

  /** Resolves once nothing is scheduled or being published (tests, stop). */
  async idle(): Promise<void> {
    for (;;) {
      const c = this.chain;
      await c;
      if (c === this.chain && !this.scheduled) return;
      await new Promise((r) => setTimeout(r, 10));
    }
  }

  private seeOta(component: string, s: OtaStatus): void {
    this.lastOta.set(component, s);
    // Only a release that got past signature and hash checks counts as "seen": a forged envelope
    // claiming 9.9.9 must not show as an available update.
    if (!['staged', 'activating', 'probation', 'committed', 'rolled-back'].includes(s.phase)) return;
    const prev = this.latestSeen.get(component);
    if (!prev || compareSemver(s.version, prev) > 0) this.latestSeen.set(component, s.version);
  }

  /** Coalesces bursts (a restart is several lifecycle events) into one publication. */
  private schedule(force: boolean, delayMs = 50): void {
    if (this.stopped) return;
    this.force ||= force;
    if (this.scheduled) return;
    this.scheduled = setTimeout(() => {
      this.scheduled = undefined;
      const f = this.force;
      this.force = false;
      this.chain = this.chain.then(() => this.publish(f)).catch((err: Error) => this.ctx.log.warn({ err: err.message }, 'Home Assistant discovery not published; retried on the next connect'));
    }, delayMs);
    this.scheduled.unref?.();
  }

  private async publish(force: boolean): Promise<void> {
    const { mqtt } = this.ctx;
    if (!mqtt.connected) return;
    const comps = this.ctx.components();
    const list = entities(this.gw, comps.map((c) => ({ name: c.name, channels: c.manifest.capabilities.channels })));
    const signature = JSON.stringify(list);
    if (force || signature !== this.lastSignature) {
      await this.publishDiscovery(list);
      this.lastSignature = signature;
    }
    for (const c of comps) {
      const payload = JSON.stringify(this.updateState(c.name, c.version));
      if (!force && this.updateSent.get(c.name) === payload) continue;
      await mqtt.publish(updateStateTopic(this.gw, c.name), payload, { qos: 1, retain: true });
      this.updateSent.set(c.name, payload);
    }
  }

  /** The `update` entity's state: what runs, and the newest verified release seen for it. */
  private updateState(component: string, installed: string): Record<string, unknown> {
    const seen = this.latestSeen.get(component);
    const latest = seen && compareSemver(seen, installed) > 0 ? seen : installed;
    const out: Record<string, unknown> = { installed_version: installed, latest_version: latest, title: component };
    const last = this.lastOta.get(component);
    if (last) out.release_summary = `OTA ${last.version}: ${last.phase}${last.reason ? ` (${last.reason})` : ''}`.slice(0, 255);
    return out;
  }

  private async publishDiscovery(list: Entity[]): Promise<void> {
    const { mqtt } = this.ctx;
    const retained = { qos: 1 as const, retain: true };
    const dp = this.config.discoveryPrefix;
    const mode = this.config.legacy ? 'legacy' : 'device';
    const prev = this.readState();
    const same = prev && prev.mode === mode && prev.discoveryPrefix === dp && prev.node === nodeId(this.gw);
    const current = new Set(list.map((e) => e.key));
    const gone = same ? prev.entities.filter((e) => !current.has(e.key)) : [];

    // What an earlier configuration published elsewhere goes first, so HA never sees both.
    if (prev && !same) {
      const old: DiscoveryGateway = { ...this.gw, id: prev.gatewayId };
      if (prev.mode === 'device') await mqtt.publish(deviceTopic(prev.discoveryPrefix, old), '', retained);
      else for (const e of prev.entities) await mqtt.publish(entityTopic(prev.discoveryPrefix, old, e), '', retained);
    }
    if (mode === 'device') {
      if (gone.length) await mqtt.publish(deviceTopic(dp, this.gw), JSON.stringify(deviceMessage(this.gw, list, gone)), retained);
      await mqtt.publish(deviceTopic(dp, this.gw), JSON.stringify(deviceMessage(this.gw, list)), retained);
    } else {
      for (const e of gone) await mqtt.publish(entityTopic(dp, this.gw, e), '', retained);
      for (const e of list) await mqtt.publish(entityTopic(dp, this.gw, e), JSON.stringify(entityMessage(this.gw, e)), retained);
    }
    // The update state of a component that is gone is cleared with it.
    for (const e of gone) {
      if (e.platform === 'update' && e.key.endsWith('-update')) {
        const component = e.key.slice(0, -'-update'.length);
        await mqtt.publish(updateStateTopic(this.gw, component), '', retained);
        this.updateSent.delete(component);
      }
    }
    this.writeState({ mode, discoveryPrefix: dp, node: nodeId(this.gw), gatewayId: this.gw.id, entities: list.map((e) => ({ key: e.key, platform: e.platform })) });
    this.ctx.log.debug({ entities: list.length, removed: gone.length, mode }, 'Home Assistant discovery published');
  }

  private readState(): PublishedState | undefined {
    try {
      const s = JSON.parse(readFileSync(this.stateFile, 'utf8')) as PublishedState;
      return s && Array.isArray(s.entities) ? s : undefined;
    } catch {
      return undefined;
    }
  }

  private writeState(s: PublishedState): void {
    const tmp = `${this.stateFile}.tmp`;
    writeFileSync(tmp, JSON.stringify(s, null, 1) + '\n');
    renameSync(tmp, this.stateFile);
  }
}

/** `<data-dir>/homeassistant.json`: what the last publication announced, to remove what goes away. */
interface PublishedState {
  mode: 'device' | 'legacy';
  discoveryPrefix: string;
  node: string;
  gatewayId: string;
  entities: Array<{ key: string; platform: string }>;
}
