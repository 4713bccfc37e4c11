import { GatewayError } from '../../runtime/errors.js';
import { subscribeAsync, type MessageListener, type MqttPort } from '../ota/mqtt-port.js';
import { topics } from '../mqtt/topics.js';

/**
 * The gateways a broker knows: each gateway keeps its state retained on `<prefix>/gw/<id>/state`
 * (also its last will), so subscribing shows every gateway that ever reported, online or not, with
 * its groups. `push` checks its target against this before publishing anything; `rollout` fixes its
 * targets from it.
 */
export interface KnownGateway {
  id: string;
  state: string;
  version?: string;
  /** Absent for a gateway that does not publish its groups (before contract 0.2). */
  groups?: string[];
  ts?: number;
}

export interface ReadOptions {
  /** The broker sends retained messages right after the subscription; once it has been quiet this long, they are all in. */
  quietMs?: number;
  /** Upper bound however chatty the broker is. */
  maxMs?: number;
  /** Stop early once this holds (e.g. the one gateway asked for has been seen). */
  enough?: (known: ReadonlyMap<string, KnownGateway>) => boolean;
}

export async function readGatewayStates(port: MqttPort, prefix: string, opts: ReadOptions = {}): Promise<Map<string, KnownGateway>> {
  const quietMs = opts.quietMs ?? 300;
  const maxMs = opts.maxMs ?? 2000;
  const known = new Map<string, KnownGateway>();
  const filter = topics.gatewayState(prefix, '+');
  const head = topics.gateway(prefix, '');
  let last = Date.now();
  const listener: MessageListener = (topic, payload) => {
    if (!topic.startsWith(head) || !topic.endsWith('/state')) return;
    const id = topic.slice(head.length, -'/state'.length);
    if (!id || id.includes('/')) return;
    last = Date.now();
    if (payload.length === 0) {
      known.delete(id); // an empty retained message clears the state
      return;
    }
    try {
      const body = JSON.parse(payload.toString('utf8')) as Record<string, unknown>;
      known.set(id, {
        id,
        state: typeof body.state === 'string' ? body.state : 'unknown',
        ...(typeof body.version === 'string' ? { version: body.version } : {}),
        ...(Array.isArray(body.groups) ? { groups: body.groups.filter((g): g is string => typeof g === 'string') } : {}),
        ...(typeof body.ts === 'number' ? { ts: body.ts } : {}),
      });
    } catch {
      /* not a gateway state: ignore */
    }
  };
  port.on('message', listener);
  const started = Date.now();
  try {
    await subscribeAsync(port, filter, 1);
    last = Date.now();
    while (Date.now() - last < quietMs && Date.now() - started < maxMs && !opts.enough?.(known)) {
      await new Promise((r) => setTimeout(r, 25));
    }
  } finally {
    port.removeListener('message', listener);
    await new Promise<void>((r) => port.unsubscribe(filter, () => r()));
  }
  return known;
}

const describeGateway = (g: KnownGateway) => `${g.id}${g.groups?.length ? ` [${g.groups.join(', ')}]` : ''} (${g.state})`;

function knownList(known: ReadonlyMap<string, KnownGateway>, max = 20): string {
  const all = [...known.values()].sort((a, b) => a.id.localeCompare(b.id, 'en', { numeric: true })).map(describeGateway);
  return all.length > max ? `${all.slice(0, max).join(', ')} and ${all.length - max} more` : all.join(', ');
}

/**
 * Which known gateways a push to `--gateway ID` or `--group G` reaches. A target no gateway ever
 * reported for is an error naming the gateways that do exist (code UNKNOWN_TARGET, exit 2): a retained
 * envelope for a typo would otherwise sit on the broker until some future gateway took it.
 */
export function resolveTarget(known: ReadonlyMap<string, KnownGateway>, target: { gateway?: string; group?: string }, where: { broker: string; prefix: string }): { ids: string[]; notes: string[] } {
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
  const members = [...known.values()].filter((g) => g.groups?.includes(group));
  const unsure = [...known.values()].filter((g) => g.groups === undefined);
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
