import { writeCreds } from '../../fleet/broker-creds.js';
import { flagString } from '../args.js';
import type { Verb } from '../io.js';
import { parseVerbArgs, usageError, type VerbSpec } from '../spec.js';

export const spec: VerbSpec = {
  name: 'broker-creds',
  summary: 'per-gateway (or operator) broker password and ACL for Mosquitto',
  usage: 'broker-creds --gateway ID [--group G …] --out DIR [--broker URL] [--prefix airssys] [--force]',
  forms: ['broker-creds --operator NAME --out DIR [--prefix airssys] [--force]'],
  about: "Writes a fresh random password for one broker account, its line in DIR/passwd (Mosquitto's PBKDF2-SHA512 `$7$` format), its ACL block, and the secret for the other side. See docs/fleet.md.",
  flags: [
    { name: 'gateway', short: 'g', arg: 'ID', about: 'the gateway id: it becomes the broker username, confined to <prefix>/gw/<id>/…' },
    { name: 'group', arg: 'G', repeatable: true, about: 'a group whose OTA topic (<prefix>/group/G/ota/+) the gateway may read (gateway.groups)' },
    { name: 'operator', arg: 'NAME', about: 'an operator account instead (push, rollout, status): reads everything, writes OTA, commands, artifacts, rollouts' },
    { name: 'out', short: 'o', arg: 'DIR', about: 'the folder holding passwd, acl, acl.d/ and the secrets; point mosquitto at DIR/passwd and DIR/acl' },
    { name: 'broker', arg: 'URL', about: "the URL written into the gateway's config snippet" },
    { name: 'prefix', arg: 'PREFIX', about: 'topic prefix (default airssys)' },
    { name: 'force', about: 'replace an existing account (a new password)' },
  ],
  examples: ['airssys broker-creds --gateway gw-1 --group lab --out /etc/mosquitto/airssys --broker mqtts://broker:8883'],
  exits: '0 written, 1 the account exists (use --force) or the folder cannot be written, 2 invalid arguments',
};

/**
 * `airssys broker-creds`: a fresh random password for one broker account, its line in DIR/passwd
 * (Mosquitto's PBKDF2-SHA512 `$7$` format), its ACL block, and the secret for the other side
 * (the gateway's mqtt.username/password snippet, or the operator's env file). See docs/fleet.md.
 */
export const run: Verb = async (argv, io) => {
  const args = parseVerbArgs(argv, spec);
  const gateway = flagString(args, 'gateway');
  const operator = flagString(args, 'operator');
  const out = flagString(args, 'out');
  if ((gateway === undefined) === (operator === undefined)) throw usageError(spec, 'name exactly one account: --gateway ID or --operator NAME');
  if (!out) throw usageError(spec, 'missing --out DIR');
  const g = args.flags.group;
  const groups = Array.isArray(g) ? g : typeof g === 'string' ? [g] : [];
  if (operator !== undefined && groups.length) throw usageError(spec, '--group is for a gateway account; an operator reads every group already');
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
