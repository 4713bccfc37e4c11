import { GatewayError } from '../../runtime/errors.js';
import { subscribeAsync, type MessageListener, type MqttPort } from '../ota/mqtt-port.js';

/**
 * The fleet inventory is the broker itself: every gateway keeps a retained
 * `<prefix>/gw/<id>/state` ({state, version, groups, ts}; the LWT turns it `offline`) and a retained
 * state per component, so subscribing shows every gateway that ever reported, online or not. Reading
 * them is subscribing and waiting until the burst of retained messages is over. `push` checks its
 * target against this before publishing anything; `rollout` fixes its targets from it; `fleet ls`
 * lists it.
 */
export interface GatewayInfo {
  id: string;
  /** The state as the gateway published it (`online`, `offline`, …; `unknown` when it names none). */
  state: string;
  online: boolean;
  /** Empty also for a gateway that does not publish its groups (before contract 0.2): see groupsKnown. */
  groups: string[];
  /** Whether the gateway publishes its groups at all. */
  groupsKnown: boolean;
  /** The gateway software version. */
  version: string | undefined;
  ts: number | undefined;
  /** Component name → version and lifecycle state (only when asked for). */
  components: Map<string, { version: string | undefined; state: string | undefined }>;
}

export interface InventoryOptions {
  prefix: string;
  /** Also read the components' retained states (for `fleet ls`). */
  components?: boolean;
  /** The retained burst is over once nothing arrived for this long (default 300 ms). */
  quietMs?: number;
  /** Give up waiting for quiet after this long, however chatty the broker is (default 10 s). */
  maxMs?: number;
  /** Stop early once this holds (e.g. the one gateway asked for has been seen). */
  enough?: (known: ReadonlyMap<string, GatewayInfo>) => boolean;
}

/** Reads the retained states through any MQTT client (an MqttConnection through ota/connection-port.ts). */
export async function readInventory(port: MqttPort, opts: InventoryOptions): Promise<Map<string, GatewayInfo>> {
  const { prefix } = opts;
  const out = new Map<string, GatewayInfo>();
  const get = (id: string) => {
    let g = out.get(id);
    if (!g) out.set(id, (g = { id, state: 'unknown', online: false, groups: [], groupsKnown: false, version: undefined, ts: undefined, components: new Map() }));
    return g;
  };
  let last = Date.now();
  const head = `${prefix}/gw/`;
  const listener: MessageListener = (topic, payload) => {
    if (!topic.startsWith(head)) return;
    const parts = topic.slice(prefix.length + 1).split('/'); // gw/<id>/state | gw/<id>/components/<name>/state
    const gatewayState = parts.length === 3 && parts[2] === 'state';
    const componentState = parts.length === 5 && parts[2] === 'components' && parts[4] === 'state';
    if ((!gatewayState && !componentState) || !parts[1]) return;
    last = Date.now();
    if (payload.length === 0) {
      // An empty retained message clears the state.
      if (gatewayState) out.delete(parts[1]);
      else out.get(parts[1])?.components.delete(parts[3]!);
      return;
    }
    let body: Record<string, unknown>;
    try {
      body = JSON.parse(payload.toString('utf8')) as Record<string, unknown>;
    } catch {
      return; // not ours
    }
    if (!body || typeof body !== 'object') return;
    const str = (v: unknown) => (typeof v === 'string' ? v : undefined);
    if (gatewayState) {
      const g = get(parts[1]);
      g.state = str(body.state) ?? 'unknown';
      g.online = body.state === 'online';
      g.groupsKnown = Array.isArray(body.groups);
      g.groups = Array.isArray(body.groups) ? body.groups.filter((x): x is string => typeof x === 'string') : [];
      g.version = str(body.version);
      g.ts = typeof body.ts === 'number' ? body.ts : undefined;
    } else {
      get(parts[1]).components.set(parts[3]!, { version: str(body.version), state: str(body.state) });
    }
  };
  port.on('message', listener);
  const filters = [`${prefix}/gw/+/state`, ...(opts.components ? [`${prefix}/gw/+/components/+/state`] : [])];
  const quietMs = opts.quietMs ?? 300;
  const maxMs = opts.maxMs ?? 10_000;
  const started = Date.now();
  try {
    await subscribeAsync(port, filters, 1);
    last = Math.max(last, Date.now());
    while (Date.now() - last < quietMs && Date.now() - started < maxMs && !opts.enough?.(out)) await new Promise((r) => setTimeout(r, 25));
  } finally {
    port.removeListener('message', listener);
    await new Promise<void>((r) => port.unsubscribe(filters, () => r()));
  }
  return out;
}

/** Natural order: sim-2 before sim-10. */
export const byId = (a: string, b: string) => a.localeCompare(b, 'en', { numeric: true });

const describeGateway = (g: GatewayInfo) => `${g.id}${g.groups.length ? ` [${g.groups.join(', ')}]` : ''} (${g.state})`;

function knownList(known: ReadonlyMap<string, GatewayInfo>, max = 20): string {
  const all = [...known.values()].sort((a, b) => byId(a.id, b.id)).map(describeGateway);
  return all.length > max ? `${all.slice(0, max).join(', ')} and ${all.length - max} more` : all.join(', ');
}

/**
 * Which known gateways a push to `--gateway ID` or `--group G` reaches. A target no gateway ever
 * reported for is an error naming the gateways that do exist (code UNKNOWN_TARGET, exit 2): a retained
 * envelope for a typo would otherwise sit on the broker until some future gateway took it.
 */
export function resolveTarget(known: ReadonlyMap<string, GatewayInfo>, target: { gateway?: string; group?: string }, where: { broker: string; prefix: string }): { ids: string[]; notes: string[] } {
  const none = `no gateway has ever reported on ${where.broker} (nothing retained on ${where.prefix}/gw/+/state); start one or check --broker and --prefix`;
  if (target.gateway !== undefined) {
    const g = known.get(target.gateway);
    if (!g) {
      if (known.size === 0) throw new GatewayError('UNKNOWN_TARGET', `gateway ${target.gateway} is unknown: ${none}`);
      throw new GatewayError('UNKNOWN_TARGET', `gateway ${target.gateway} has never reported on ${where.broker}; known gateways: ${knownList(known)}; check --gateway (or --prefix)`);
    }
    return { ids: [g.id], notes: g.state === 'online' ? [] : [`gateway ${g.id} is ${g.state}; the release stays retained until it reconnects (push waits up to --timeout)`] };
  }
  const group = target.group!;
  const members = [...known.values()].filter((g) => g.groups.includes(group));
  const unsure = [...known.values()].filter((g) => !g.groupsKnown);
  if (members.length === 0 && unsure.length === 0) {
    if (known.size === 0) throw new GatewayError('UNKNOWN_TARGET', `group ${group} is unknown: ${none}`);
    throw new GatewayError('UNKNOWN_TARGET', `no known gateway is in group ${group} on ${where.broker}; known gateways: ${knownList(known)}; check --group (or --prefix)`);
  }
  const notes: string[] = [];
  if (unsure.length) notes.push(`${unsure.map((g) => g.id).join(', ')} do not publish their groups; they may be in ${group} too`);
  const offline = members.filter((g) => g.state !== 'online');
  if (offline.length) notes.push(`${offline.map((g) => g.id).join(', ')} ${offline.length > 1 ? 'are' : 'is'} not online; they get the release when they reconnect`);
  return { ids: members.map((g) => g.id), notes };
}
