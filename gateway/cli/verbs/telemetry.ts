import { GatewayError } from '../../../runtime/errors.js';
import { connectCli } from '../../mqtt/client.js';
import { cliCredentials } from '../broker-flags.js';
import { announceBrokerChanges } from '../broker-notices.js';
import { flagInt, flagString, parseArgs, requireFlag } from '../args.js';
import type { Verb } from '../io.js';

/**
 * `airssys telemetry --broker URL [--gateway ID] [--component NAME]`: prints one line per sample
 * until Ctrl-C, or until `--count N` samples arrived. A lost broker is reconnected (subscription
 * restored), with one line on stderr when it goes and one when it is back.
 */
const USAGE = 'airssys telemetry --broker URL [--gateway ID] [--component NAME] [--channel C] [--count N] [--prefix airssys] [--json] [--username U --password P] [--ca CA.pem]';

export const run: Verb = async (argv, io) => {
  const args = parseArgs(argv, { usage: USAGE, values: ['broker', 'username', 'password', 'ca', 'gateway', 'component', 'channel', 'count', 'prefix'], booleans: ['json'], aliases: { b: 'broker', g: 'gateway', c: 'component', n: 'count' } });
  if (args.positionals.length > 0) throw new GatewayError('USAGE', `unexpected argument ${JSON.stringify(args.positionals[0])}; usage: ${USAGE}`);
  const broker = requireFlag(args, 'broker', USAGE);
  const prefix = flagString(args, 'prefix') ?? 'airssys';
  const count = flagInt(args, 'count', USAGE);
  const json = args.flags.json === true;
  const filter = `${prefix}/gw/${flagString(args, 'gateway') ?? '+'}/telemetry/${flagString(args, 'component') ?? '+'}/${flagString(args, 'channel') ?? '+'}`;
  const conn = await connectCli(broker, cliCredentials(args));
  const quiet = announceBrokerChanges(conn, broker, io.err);
  let seen = 0;
  let refused = false;
  await new Promise<void>((resolve) => {
    const done = () => {
      process.off('SIGINT', done);
      process.off('SIGTERM', done);
      resolve();
    };
    process.once('SIGINT', done);
    process.once('SIGTERM', done);
    conn.on('message', (topic: string, payload: Buffer) => {
      if (count !== undefined && seen >= count) return;
      const parts = topic.slice(prefix.length + 1).split('/'); // gw/<id>/telemetry/<name>/<channel>
      const [, gateway, , component, channel] = parts;
      let body: { value?: unknown; json?: unknown; ts?: unknown; seq?: unknown };
      try {
        body = JSON.parse(payload.toString('utf8')) as typeof body;
      } catch {
        body = { value: payload.toString('utf8') };
      }
      seen++;
      if (json) {
        io.out(JSON.stringify({ gateway, component, channel, ...body }));
      } else {
        const value = 'json' in body ? JSON.stringify(body.json) : String(body.value);
        const ts = typeof body.ts === 'number' ? new Date(body.ts).toISOString() : '-';
        io.out(`${ts}  ${gateway}  ${component}/${channel}  #${String(body.seq ?? '-')}  ${value}`);
      }
      if (count !== undefined && seen >= count) done();
    });
    if (count === 0) return done();
    conn.subscribe(filter, { qos: 1 }).catch((err: Error) => {
      io.err(`error: the broker refused the subscription to ${filter} (${err.message}); check the broker's ACL`);
      refused = true;
      done();
    });
  });
  quiet();
  await conn.stop();
  return refused ? 1 : 0;
};
