import type { MqttConnection } from '../mqtt/connection.js';
import { topics } from '../mqtt/topics.js';

/**
 * The fleet inventory is the broker itself: every gateway keeps a retained
 * `<prefix>/gw/<id>/state` ({state, version, groups, ts}; the LWT turns it `offline`) and a retained
 * state per component. Reading them is subscribing and waiting until the burst of retained messages
 * is over.
 */
export interface GatewayInfo {
  id: string;
  online: boolean;
  groups: string[];
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
  /** Give up waiting for quiet after this long (default 10 s). */
  maxMs?: number;
}

export async function readInventory(conn: MqttConnection, opts: InventoryOptions): Promise<Map<string, GatewayInfo>> {
  const { prefix } = opts;
  const out = new Map<string, GatewayInfo>();
  const get = (id: string) => {
    let g = out.get(id);
    if (!g) out.set(id, (g = { id, online: false, groups: [], version: undefined, ts: undefined, components: new Map() }));
    return g;
  };
  let last = Date.now();
  const onMessage = (topic: string, payload: Buffer) => {
    if (!topic.startsWith(topics.gateway(prefix, ''))) return;
    const parts = topic.slice(prefix.length + 1).split('/'); // gw/<id>/state | gw/<id>/components/<name>/state
    let body: Record<string, unknown>;
    try {
      body = JSON.parse(payload.toString('utf8')) as Record<string, unknown>;
    } catch {
      return; // an empty (cleared) retained message, or not ours
    }
    if (!body || typeof body !== 'object') return;
    last = Date.now();
    if (parts.length === 3 && parts[2] === 'state') {
      const g = get(parts[1]!);
      g.online = body.state === 'online';
      g.groups = Array.isArray(body.groups) ? body.groups.filter((x): x is string => typeof x === 'string') : [];
      g.version = typeof body.version === 'string' ? body.version : undefined;
      g.ts = typeof body.ts === 'number' ? body.ts : undefined;
    } else if (parts.length === 5 && parts[2] === 'components' && parts[4] === 'state') {
      get(parts[1]!).components.set(parts[3]!, { version: typeof body.version === 'string' ? body.version : undefined, state: typeof body.state === 'string' ? body.state : undefined });
    }
  };
  conn.on('message', onMessage);
  const filters = [topics.gatewayState(prefix, '+'), ...(opts.components ? [topics.componentState(prefix, '+', '+')] : [])];
  try {
    for (const f of filters) await conn.subscribe(f, { qos: 1 });
    const quiet = opts.quietMs ?? 300;
    const started = Date.now();
    last = Math.max(last, started);
    while (Date.now() - last < quiet && Date.now() - started < (opts.maxMs ?? 10_000)) await new Promise((r) => setTimeout(r, 50));
    for (const f of filters) await conn.unsubscribe(f);
  } finally {
    conn.off('message', onMessage);
  }
  return out;
}

/** Natural order: sim-2 before sim-10. */
export const byId = (a: string, b: string) => a.localeCompare(b, 'en', { numeric: true });
