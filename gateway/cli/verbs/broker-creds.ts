import { GatewayError } from '../../../runtime/errors.js';
import { writeCreds } from '../../fleet/broker-creds.js';
import { flagString, parseArgs } from '../args.js';
import type { Verb } from '../io.js';

/** Usage, flags and an example in one place (for the declarative --help spec). */
export const SPEC = {
  usage: [
    'airssys broker-creds --gateway ID [--group G …] --out DIR [--broker URL] [--prefix airssys] [--force]',
    'airssys broker-creds --operator NAME --out DIR [--prefix airssys] [--force]',
  ],
  flags: {
    gateway: 'the gateway id: it becomes the broker username, confined to <prefix>/gw/<id>/…',
    group: "a group whose OTA topic (<prefix>/group/G/ota/+) the gateway may read (repeatable; gateway.groups)",
    operator: 'an operator account instead (push, rollout, status): reads everything, writes OTA, commands, artifacts, rollouts',
    out: 'the folder holding passwd, acl, acl.d/ and the secrets; point mosquitto at DIR/passwd and DIR/acl',
    broker: "the URL written into the gateway's config snippet",
    prefix: 'topic prefix (default airssys)',
    force: 'replace an existing account (a new password)',
  },
  example: 'airssys broker-creds --gateway gw-1 --group lab --out /etc/mosquitto/airssys --broker mqtts://broker:8883',
} as const;

const USAGE = SPEC.usage.join('\n       ');

/**
 * `airssys broker-creds`: a fresh random password for one broker account, its line in DIR/passwd
 * (Mosquitto's PBKDF2-SHA512 `$7$` format), its ACL block, and the secret for the other side
 * (the gateway's mqtt.username/password snippet, or the operator's env file). See docs/fleet.md.
 */
export const run: Verb = async (argv, io) => {
  const args = parseArgs(argv, { usage: USAGE, values: ['gateway', 'group', 'operator', 'out', 'broker', 'prefix'], booleans: ['force'], repeatable: ['group'], aliases: { g: 'gateway', o: 'out' } });
  const gateway = flagString(args, 'gateway');
  const operator = flagString(args, 'operator');
  const out = flagString(args, 'out');
  if ((gateway === undefined) === (operator === undefined)) throw new GatewayError('USAGE', `name exactly one account: --gateway ID or --operator NAME; usage: ${USAGE}`);
  if (!out) throw new GatewayError('USAGE', `missing --out DIR; usage: ${USAGE}`);
  const g = args.flags.group;
  const groups = Array.isArray(g) ? g : typeof g === 'string' ? [g] : [];
  if (operator !== undefined && groups.length) throw new GatewayError('USAGE', '--group is for a gateway account; an operator reads every group already');
  const broker = flagString(args, 'broker');
  const r = await writeCreds({
    dir: out,
    kind: gateway !== undefined ? 'gateway' : 'operator',
    name: (gateway ?? operator)!,
    groups,
    prefix: flagString(args, 'prefix') ?? 'airssys',
    force: args.flags.force === true,
    ...(broker !== undefined ? { broker } : {}),
  });
  const who = gateway !== undefined ? `gateway ${gateway}` : `operator ${operator}`;
  io.out(`${who}: password line in ${r.passwdFile}, ACL in ${r.aclFile}`);
  io.out(gateway !== undefined ? `config snippet (mqtt.username/password, keep it secret): ${r.secretFile}` : `credentials for the CLI (source it; keep it secret): ${r.secretFile}`);
  io.err('reload the broker to apply: kill -HUP $(pidof mosquitto)  (or systemctl reload mosquitto)');
  return 0;
};
