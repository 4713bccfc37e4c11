import { GatewayError } from '../../../runtime/errors.js';
import { flagInt, flagString } from '../args.js';
import type { Verb } from '../io.js';
import { parseVerbArgs, usageError, usageLine, type VerbSpec } from '../spec.js';
import { artifactTopic } from '../../ota/chunks.js';
import { connectBroker } from '../../ota/connect.js';
import { BROKER_FLAGS, brokerUrl, cliCredentials, PREFIX_FLAG } from '../broker-flags.js';
import { publishAsync, subscribeAsync } from '../../ota/mqtt-port.js';

export const spec: VerbSpec = {
  name: 'artifacts',
  summary: 'remove a release\'s retained chunks from the broker (artifacts rm)',
  usage: 'artifacts rm SHA256 --broker URL [options]',
  about: 'Once every gateway has a release, its retained chunks only take broker memory. `rm` finds the chunks present (and 0..N-1 with --chunks) and clears each with an empty retained message.',
  flags: [
    ...BROKER_FLAGS,
    { name: 'chunks', arg: 'N', about: 'also clear chunks 0..N-1 a slow broker has not delivered yet' },
    PREFIX_FLAG,
    { name: 'wait-ms', arg: 'MS', about: 'how long the broker may stay quiet before the chunks found are final (default 1000)' },
  ],
  examples: ['airssys artifacts rm 3b1f…e9 --broker 127.0.0.1:1883'],
  exits: '0 removed or nothing to remove, 1 the broker is unreachable, 2 invalid arguments',
};
const USAGE = usageLine(spec);

/**
 * `artifacts rm`: clears a release's retained chunks once a rollout is done. The chunks present are
 * discovered by subscribing (retained messages arrive at once); an empty retained publish deletes each.
 * `--chunks N` clears 0..N-1 as well, for chunks a slow broker has not delivered yet.
 */
export const run: Verb = async (argv, io) => {
  const args = parseVerbArgs(argv, spec);
  const [sub, sha, ...extra] = args.positionals;
  if (sub !== 'rm' || !sha || extra.length) throw usageError(spec, sub === 'rm' ? 'give exactly one SHA256' : 'the only sub-command is `rm`');
  if (!/^[0-9a-f]{64}$/.test(sha)) throw new GatewayError('USAGE', `${JSON.stringify(sha)} is not a sha256 (64 lowercase hex digits); copy it from \`airssys sign\` output`);
  const url = brokerUrl(args, USAGE);
  const prefix = flagString(args, 'prefix') ?? 'airssys';
  const waitMs = flagInt(args, 'wait-ms', USAGE) ?? 1000;
  const { port: client, close } = await connectBroker(url, cliCredentials(args));
  try {
    const indexes = new Set<number>();
    for (let i = 0; i < (flagInt(args, 'chunks', USAGE) ?? 0); i++) indexes.add(i);
    const base = artifactTopic(prefix, sha, '+').slice(0, -1);
    let last = Date.now();
    client.on('message', (topic, payload, packet) => {
      if (!topic.startsWith(base) || !packet?.retain || payload.length === 0) return;
      const i = Number(topic.slice(base.length));
      if (Number.isInteger(i) && i >= 0) {
        indexes.add(i);
        last = Date.now();
      }
    });
    await subscribeAsync(client, artifactTopic(prefix, sha, '+'), 1);
    // Retained messages come right after the subscription; stop once they have been quiet for a while.
    while (Date.now() - last < waitMs) await new Promise((r) => setTimeout(r, 50));
    await new Promise<void>((r) => client.unsubscribe(artifactTopic(prefix, sha, '+'), () => r()));
    for (const i of [...indexes].sort((a, b) => a - b)) await publishAsync(client, artifactTopic(prefix, sha, i), Buffer.alloc(0), { qos: 1, retain: true });
    io.out(indexes.size ? `removed ${indexes.size} retained chunk(s) of ${sha}` : `no retained chunks of ${sha} on ${url}`);
    return 0;
  } finally {
    await close();
  }
};
