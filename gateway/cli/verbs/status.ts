import { GatewayError } from '../../../runtime/errors.js';
import { connectCli } from '../../mqtt/client.js';
import { cliCredentials } from '../broker-flags.js';
import { announceBrokerChanges } from '../broker-notices.js';
import { flagInt, flagString, parseArgs, requireFlag } from '../args.js';
import type { Verb } from '../io.js';

/**
 * `airssys status --broker URL [--gateway ID]`: reads the retained gateway and component state
 * topics (and the latest health message, if one arrives) for a short window, then prints a table.
 */
const USAGE = 'airssys status --broker URL [--gateway ID] [--prefix airssys] [--wait-ms 1000] [--json] [--username U --password P] [--ca CA.pem]';

interface Row {
  gateway: string;
  component: string | undefined;
  state: unknown;
  version: unknown;
  restarts: unknown;
  ts: unknown;
}

export const run: Verb = async (argv, io) => {
  const args = parseArgs(argv, { usage: USAGE, values: ['broker', 'username', 'password', 'ca', 'gateway', 'prefix', 'wait-ms'], booleans: ['json'], aliases: { b: 'broker', g: 'gateway' } });
  if (args.positionals.length > 0) throw new GatewayError('USAGE', `unexpected argument ${JSON.stringify(args.positionals[0])}; usage: ${USAGE}`);
  const broker = requireFlag(args, 'broker', USAGE);
  const gw = flagString(args, 'gateway');
  const prefix = flagString(args, 'prefix') ?? 'airssys';
  const waitMs = flagInt(args, 'wait-ms', USAGE) ?? 1000;
  const conn = await connectCli(broker, cliCredentials(args));
  const quiet = announceBrokerChanges(conn, broker, io.err);
  const gateways = new Map<string, Row>();
  const components = new Map<string, Row>();
  const health = new Map<string, Record<string, unknown>>();
  const base = `${prefix}/gw/${gw ?? '+'}`;
  conn.on('message', (topic: string, payload: Buffer) => {
    const parts = topic.slice(prefix.length + 1).split('/'); // gw/<id>/...
    const id = parts[1]!;
    let body: Record<string, unknown>;
    try {
      body = JSON.parse(payload.toString('utf8')) as Record<string, unknown>;
    } catch {
      return; // not ours, or an empty (cleared) retained message
    }
    if (typeof body !== 'object' || body === null) return;
    if (parts[2] === 'state' && parts.length === 3) gateways.set(id, { gateway: id, component: undefined, state: body.state, version: body.version, restarts: undefined, ts: body.ts });
    else if (parts[2] === 'components' && parts[4] === 'state') components.set(`${id}/${parts[3]}`, { gateway: id, component: parts[3], state: body.state, version: body.version, restarts: body.restarts, ts: body.ts });
    else if (parts[2] === 'health') health.set(id, body);
  });
  try {
    await conn.subscribe(`${base}/state`, { qos: 1 });
    await conn.subscribe(`${base}/components/+/state`, { qos: 1 });
    await conn.subscribe(`${base}/health`, { qos: 0 });
    await new Promise((r) => setTimeout(r, waitMs));
  } finally {
    quiet();
    await conn.stop();
  }
  const ids = [...new Set([...gateways.keys(), ...[...components.values()].map((c) => c.gateway)])].sort();
  if (ids.length === 0) {
    io.err(gw ? `no state for gateway ${gw} under ${prefix}/gw/${gw}/ on ${broker}; check --gateway and --prefix` : `no gateways found under ${prefix}/gw/+/state on ${broker}; check --broker and --prefix`);
    return 1;
  }
  if (args.flags.json) {
    for (const id of ids) {
      io.out(JSON.stringify({
        gateway: id,
        ...(gateways.get(id) ? { state: gateways.get(id)!.state, version: gateways.get(id)!.version, ts: gateways.get(id)!.ts } : {}),
        components: [...components.values()].filter((c) => c.gateway === id).map(({ gateway: _g, ...c }) => c),
        ...(health.get(id) ? { health: health.get(id) } : {}),
      }));
    }
    return 0;
  }
  const table: string[][] = [['GATEWAY', 'COMPONENT', 'STATE', 'VERSION', 'RESTARTS', 'UPDATED']];
  const cell = (v: unknown) => (v === undefined || v === null ? '-' : String(v));
  const when = (ts: unknown) => (typeof ts === 'number' ? new Date(ts).toISOString().replace(/\.\d+Z$/, 'Z') : '-');
  for (const id of ids) {
    const g = gateways.get(id);
    table.push([id, '-', cell(g?.state ?? 'unknown'), cell(g?.version), '-', when(g?.ts)]);
    const cs = [...components.values()].filter((c) => c.gateway === id).sort((a, b) => String(a.component).localeCompare(String(b.component)));
    for (const c of cs) table.push([id, cell(c.component), cell(c.state), cell(c.version), cell(c.restarts), when(c.ts)]);
  }
  const widths = table[0]!.map((_, i) => Math.max(...table.map((r) => r[i]!.length)));
  for (const r of table) io.out(r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]!))).join('  '));
  for (const id of ids) {
    const h = health.get(id);
    const o = h?.outbox as Record<string, unknown> | undefined;
    if (o) {
      // `dropped` by reason (outbox-full, age, disk-full); older gateways sent only the first two.
      const byReason = (o.dropped as Record<string, number> | undefined) ?? { 'outbox-full': Number(o.droppedFull ?? 0), age: Number(o.droppedAge ?? 0) };
      const total = Object.values(byReason).reduce((n, v) => n + Number(v), 0);
      const detail = Object.entries(byReason).filter(([, v]) => Number(v) > 0).map(([k, v]) => `${k} ${v}`).join(', ');
      io.out(`${id}: outbox depth ${cell(o.depth)}, dropped ${cell(total)}${detail ? ` (${detail})` : ''}${o.writable === false ? `, NOT WRITABLE: ${String(o.storageError)}` : ''}`);
    }
  }
  return 0;
};
