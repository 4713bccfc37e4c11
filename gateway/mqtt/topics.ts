/**
 * Topic names of contract section 4, in one place so the gateway, the CLI, the fleet tools and the
 * broker ACLs agree. `prefix` is mqtt.topic-prefix (default `airssys`). Any segment may be an MQTT
 * wildcard (`+`) to build a subscription filter, or `%u` for a Mosquitto ACL pattern.
 */
const gw = (prefix: string, id: string) => `${prefix}/gw/${id}`;
export const topics = {
  /** `<prefix>/gw/<id>`: everything of one gateway lies below it. */
  gateway: gw,
  gatewayState: (prefix: string, id: string) => `${gw(prefix, id)}/state`,
  componentState: (prefix: string, id: string, name: string) => `${gw(prefix, id)}/components/${name}/state`,
  /** Home Assistant's update entity state (docs/homeassistant.md). */
  componentUpdate: (prefix: string, id: string, name: string) => `${gw(prefix, id)}/components/${name}/update`,
  telemetry: (prefix: string, id: string, name: string, channel: string) => `${gw(prefix, id)}/telemetry/${name}/${channel}`,
  /** Not in the contract: periodic gateway health (uptime, outbox depth, drops, per-component counts). */
  health: (prefix: string, id: string) => `${gw(prefix, id)}/health`,
  /** Inbound commands: `<commands>/<component>/<topic…>`; this is the part before `<component>`, with its slash. */
  commands: (prefix: string, id: string) => `${gw(prefix, id)}/cmd/`,
  /** A component's messaging send, forwarded to the broker. */
  messages: (prefix: string, id: string, from: string, topic: string) => `${gw(prefix, id)}/messages/${from}/${topic}`,
  adminRetry: (prefix: string, id: string, name: string) => `${gw(prefix, id)}/admin/${name}/retry`,
  ota: (prefix: string, id: string, component: string) => `${gw(prefix, id)}/ota/${component}`,
  groupOta: (prefix: string, group: string, component: string) => `${prefix}/group/${group}/ota/${component}`,
  otaStatus: (prefix: string, id: string, component: string) => `${gw(prefix, id)}/ota/${component}/status`,
};

export interface GatewayStatePayload {
  state: 'online' | 'offline';
  version: string;
  /** gateway.groups (contract 7.4): lets a rollout pick its targets from the retained states alone. */
  groups: string[];
  ts: number;
}

/** Retained birth message and the matching LWT for `<prefix>/gw/<id>/state`. */
export function presence(prefix: string, gatewayId: string, version: string, groups: string[] = []): {
  will: { topic: string; payload: string; qos: 1; retain: true };
  birth: () => { topic: string; payload: string; qos: 1; retain: true };
  farewell: () => { topic: string; payload: string; qos: 1; retain: true };
} {
  const topic = topics.gatewayState(prefix, gatewayId);
  const msg = (state: 'online' | 'offline', ts: number) => JSON.stringify({ state, version, groups, ts } satisfies GatewayStatePayload);
  return {
    // The LWT is fixed at connect time, so its ts is the connect time; subscribers see when the session began.
    will: { topic, payload: msg('offline', Date.now()), qos: 1, retain: true },
    birth: () => ({ topic, payload: msg('online', Date.now()), qos: 1, retain: true }),
    farewell: () => ({ topic, payload: msg('offline', Date.now()), qos: 1, retain: true }),
  };
}

export { topicMatches } from '../../runtime/bus/topic.js';
