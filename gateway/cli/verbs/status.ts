import { GatewayError } from '../../../runtime/errors.js';
import { connectCli } from '../../mqtt/client.js';
import { BROKER_FLAGS, brokerUrl, cliCredentials, PREFIX_FLAG } from '../broker-flags.js';
import { announceBrokerChanges } from '../broker-notices.js';
import { flagInt, flagString } from '../args.js';
import type { Verb } from '../io.js';
import { parseVerbArgs, usageError, usageLine, type VerbSpec } from '../spec.js';
import { topics } from '../../mqtt/topics.js';

/**
 * `airssys status --broker URL [--gateway ID]`: reads the retained gateway and component state
 * topics (and the latest health message, if one arrives) for a short window, then prints a table.
 */
export const spec: VerbSpec = {
  name: 'status',
  summary: 'gateways, components, versions and states from the broker',
  usage: 'status --broker URL [--gateway ID] [options]',
  about: 'Reads the retained gateway and component states (and the latest health message) for --wait-ms, then prints a table, or one JSON object per gateway with --json.',
  flags: [
    ...BROKER_FLAGS,
    { name: 'gateway', short: 'g', arg: 'ID', about: 'only this gateway' },
    PREFIX_FLAG,
    { name: 'wait-ms', arg: 'MS', about: 'how long to collect retained state (default 1000)' },
    { name: 'json', about: 'one JSON object per gateway' },
  ],
  examples: ['airssys status --broker 192.168.1.10 --gateway gw-1'],
  exits: '0 printed, 1 no gateway found or the broker is unreachable, 2 invalid arguments',
};
const USAGE = usageLine(spec);

interface Row {
  gateway: string;
  component: string | undefined;
  state: unknown;
  version: unknown;
  restarts: unknown;
  ts: unknown;
}

export const run: Verb = async (argv, io) => {
  const args = parseVerbArgs(argv, spec);
  if (args.positionals.length > 0) throw usageError(spec, `unexpected argument ${JSON.stringify(args.positionals[0])}`);
  const broker = brokerUrl(args, USAGE);
  const gw = flagString(args, 'gateway');
  const prefix = flagString(args, 'prefix') ?? 'airssys';
  const waitMs = flagInt(args, 'wait-ms', USAGE) ?? 1000;
  const conn = await connectCli(broker, cliCredentials(args));
  const quiet = announceBrokerChanges(conn, broker, io.err);
  const gateways = new Map<string, Row>();
  const components = new Map<string, Row>();
  const health = new Map<string, Record<string, unknown>>();
  const target = gw ?? '+';
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
    await conn.subscribe(topics.gatewayState(prefix, target), { qos: 1 });
    await conn.subscribe(topics.componentState(prefix, target, '+'), { qos: 1 });
    await conn.subscribe(topics.health(prefix, target), { qos: 0 });
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
