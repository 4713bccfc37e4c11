import { createHash } from 'node:crypto';
import { topics } from '../../mqtt/topics.js';
import type { TelemetryChannel } from '../../../runtime/telemetry-channel.js';

/**
 * Home Assistant MQTT discovery payloads for one gateway, as pure functions of what runs on it
 * (no I/O here, so tests can compare them byte for byte).
 *
 * The gateway is one HA device. Each component contributes:
 * - a `sensor` per telemetry channel its manifest names (the channel object's unit, device class
 *   and state class; `{{ value_json.value }}` from the telemetry topic). A `*` grant names no
 *   channel, so it gives no entity; `publish-json` channels are not numeric sensors either, but
 *   the manifest cannot tell them apart: declare those channels without a unit.
 * - a `sensor` for its lifecycle state (`enum`, attributes from the retained state JSON),
 * - an `update` entity: installed version and the latest release this gateway has seen.
 * Every entity's availability is the gateway's retained state / LWT (`value_json.state`).
 */

export const LIFECYCLE_STATES = ['starting', 'running', 'restarting', 'failed', 'stopped'];

export interface DiscoveryGateway {
  id: string;
  version: string;
  topicPrefix: string;
}

export interface DiscoveryComponent {
  name: string;
  channels: readonly TelemetryChannel[];
}

export interface Entity {
  /** Key in the device message's `cmps`, and the object id of the per-entity topic. */
  key: string;
  platform: 'sensor' | 'update';
  /** Options of the entity (without platform, device, origin, availability). */
  config: Record<string, unknown>;
}

/** HA allows [a-zA-Z0-9_-] in node and object ids. */
const haId = (s: string) => s.replace(/[^A-Za-z0-9_-]/g, '_');

export const nodeId = (gw: DiscoveryGateway) => `airssys_${haId(gw.id)}`;

/** The retained `{installed_version, latest_version, …}` the extension keeps per component. */
export const updateStateTopic = (gw: DiscoveryGateway, component: string) => topics.componentUpdate(gw.topicPrefix, gw.id, component);

export function device(gw: DiscoveryGateway): Record<string, unknown> {
  return { ids: [nodeId(gw)], name: gw.id, mf: 'AirsSys', mdl: 'AirsSys Gateway', sw: gw.version };
}

export function origin(gw: DiscoveryGateway): Record<string, unknown> {
  return { name: 'airssys', sw: gw.version };
}

export function availability(gw: DiscoveryGateway): Record<string, unknown> {
  return {
    availability_topic: topics.gatewayState(gw.topicPrefix, gw.id),
    availability_template: '{{ value_json.state }}',
    payload_available: 'online',
    payload_not_available: 'offline',
  };
}

/**
 * Entity keys: telemetry keys always hold `_` (component names cannot), component-level keys
 * never do, so no channel name can collide with a component's `-state` or `-update`.
 */
export function entities(gw: DiscoveryGateway, components: readonly DiscoveryComponent[]): Entity[] {
  const node = nodeId(gw);
  const out: Entity[] = [];
  for (const c of [...components].sort((a, b) => a.name.localeCompare(b.name))) {
    const used = new Set<string>();
    for (const ch of c.channels) {
      let key = `${c.name}_${haId(ch.name)}`;
      // `a.b` and `a_b` would share a key: the later one gets a stable suffix.
      if (used.has(key)) key = `${key}_${createHash('sha256').update(ch.name).digest('hex').slice(0, 6)}`;
      used.add(key);
      const config: Record<string, unknown> = {
        name: `${c.name} ${ch.name}`,
        unique_id: `${node}_${key}`,
        state_topic: topics.telemetry(gw.topicPrefix, gw.id, c.name, ch.name),
        value_template: '{{ value_json.value }}',
      };
      if (ch.unit !== undefined) config.unit_of_measurement = ch.unit;
      if (ch.deviceClass !== undefined) config.device_class = ch.deviceClass;
      if (ch.stateClass !== undefined) config.state_class = ch.stateClass;
      out.push({ key, platform: 'sensor', config });
    }
    const state = topics.componentState(gw.topicPrefix, gw.id, c.name);
    out.push({
      key: `${c.name}-state`,
      platform: 'sensor',
      config: {
        name: `${c.name} state`,
        unique_id: `${node}_${c.name}-state`,
        state_topic: state,
        value_template: '{{ value_json.state }}',
        device_class: 'enum',
        options: LIFECYCLE_STATES,
        json_attributes_topic: state,
        entity_category: 'diagnostic',
      },
    });
    out.push({
      key: `${c.name}-update`,
      platform: 'update',
      config: {
        name: c.name,
        unique_id: `${node}_${c.name}-update`,
        state_topic: updateStateTopic(gw, c.name),
        title: c.name,
      },
    });
  }
  return out;
}

/** `<prefix>/device/<node>/config`: every entity in one message (HA 2024.11+). */
export function deviceTopic(discoveryPrefix: string, gw: DiscoveryGateway): string {
  return `${discoveryPrefix}/device/${nodeId(gw)}/config`;
}

/**
 * The device-based message. `removed` entities appear as `{ "p": platform }` only: HA's documented
 * way to delete one component of a device (the message after it leaves them out).
 */
export function deviceMessage(gw: DiscoveryGateway, list: readonly Entity[], removed: ReadonlyArray<{ key: string; platform: string }> = []): Record<string, unknown> {
  const cmps: Record<string, unknown> = {};
  for (const e of list) cmps[e.key] = { p: e.platform, ...e.config };
  for (const r of removed) cmps[r.key] = { p: r.platform };
  return { dev: device(gw), o: origin(gw), ...availability(gw), cmps };
}

/** `<prefix>/<platform>/<node>/<key>/config`: one entity (HA before 2024.11). */
export function entityTopic(discoveryPrefix: string, gw: DiscoveryGateway, e: { key: string; platform: string }): string {
  return `${discoveryPrefix}/${e.platform}/${nodeId(gw)}/${e.key}/config`;
}

export function entityMessage(gw: DiscoveryGateway, e: Entity): Record<string, unknown> {
  return { ...e.config, dev: device(gw), o: origin(gw), ...availability(gw) };
}
