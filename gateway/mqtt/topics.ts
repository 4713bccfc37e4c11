/**
 * Topic names of contract section 4, in one place so the gateway and the CLI agree.
 * `prefix` is mqtt.topic-prefix (default `airssys`).
 */
export const topics = {
  gatewayState: (prefix: string, gw: string) => `${prefix}/gw/${gw}/state`,
  componentState: (prefix: string, gw: string, name: string) => `${prefix}/gw/${gw}/components/${name}/state`,
  telemetry: (prefix: string, gw: string, name: string, channel: string) => `${prefix}/gw/${gw}/telemetry/${name}/${channel}`,
  /** Not in the contract: periodic gateway health (uptime, outbox depth, drops, per-component counts). */
  health: (prefix: string, gw: string) => `${prefix}/gw/${gw}/health`,
  cmd: (prefix: string, gw: string, name: string) => `${prefix}/gw/${gw}/cmd/${name}/#`,
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
