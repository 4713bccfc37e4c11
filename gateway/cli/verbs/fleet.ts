import { GatewayError } from '../../../runtime/errors.js';
import { connectCli } from '../../mqtt/client.js';
import { byId, readInventory } from '../../fleet/inventory.js';
import { connectionPort } from '../../ota/connection-port.js';
import { flagString } from '../args.js';
import { BROKER_FLAGS, brokerUrl, cliCredentials, PREFIX_FLAG } from '../broker-flags.js';
import type { Verb } from '../io.js';
import { parseVerbArgs, usageError, usageLine, type VerbSpec } from '../spec.js';

export const spec: VerbSpec = {
  name: 'fleet',
  summary: 'the fleet as the broker knows it: ids, groups, online, component versions (fleet ls)',
  usage: 'fleet ls --broker URL [--group G] [--json]',
  about: 'Reads the gateways\' retained states (and their components\') and prints one row per gateway.',
  flags: [
    ...BROKER_FLAGS,
    { name: 'group', arg: 'G', about: 'only the gateways of this group' },
    { name: 'json', about: 'one JSON object per gateway instead of the table' },
    PREFIX_FLAG,
  ],
  examples: ['airssys fleet ls --broker mqtt://broker:1883 --group lab'],
  exits: '0 listed, 1 no gateway found or the broker is unreachable, 2 invalid arguments',
};

/**
 * `airssys fleet ls`: the fleet as the broker knows it, from the gateways' retained states: id,
 * groups, online, and the version of each component.
 */
export const run: Verb = async (argv, io) => {
  const args = parseVerbArgs(argv, spec);
  const [sub, ...extra] = args.positionals;
  if (sub !== 'ls' || extra.length) throw usageError(spec, sub ? (sub === 'ls' ? 'fleet ls takes no arguments' : `unknown fleet command ${JSON.stringify(sub)}`) : 'missing fleet command');
  const url = brokerUrl(args, usageLine(spec));
  const prefix = flagString(args, 'prefix') ?? 'airssys';
  const group = flagString(args, 'group');
  const conn = await connectCli(url, cliCredentials(args));
  let fleet;
  try {
    fleet = await readInventory(connectionPort(conn), { prefix, components: true });
  } finally {
    await conn.stop({ farewell: false });
  }
  const rows = [...fleet.values()].filter((g) => group === undefined || g.groups.includes(group)).sort((a, b) => byId(a.id, b.id));
  if (rows.length === 0) {
    io.err(group ? `no gateway of group ${group} on ${url}; check --group (without it, fleet ls lists every gateway)` : `no gateways found under ${prefix}/gw/+/state on ${url}; check --broker and --prefix`);
    return 1;
  }
  const versions = (g: (typeof rows)[number]) => [...g.components].sort(([a], [b]) => a.localeCompare(b)).map(([name, c]) => `${name}@${c.version ?? '?'}`);
  if (args.flags.json) {
    for (const g of rows) io.out(JSON.stringify({ id: g.id, groups: g.groups, online: g.online, version: g.version, components: Object.fromEntries([...g.components].map(([n, c]) => [n, c])) }));
    return 0;
  }
  const table = [['ID', 'GROUPS', 'ONLINE', 'COMPONENTS'], ...rows.map((g) => [g.id, g.groups.join(',') || '-', g.online ? 'yes' : 'no', versions(g).join(' ') || '-'])];
  const widths = table[0]!.map((_, i) => Math.max(...table.map((r) => r[i]!.length)));
  for (const r of table) io.out(r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]!))).join('  '));
  const online = rows.filter((g) => g.online).length;
  io.err(`${rows.length} gateway(s), ${online} online`);
  return 0;
};
