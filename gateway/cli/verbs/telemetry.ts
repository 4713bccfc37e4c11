import { GatewayError } from '../../../runtime/errors.js';
import { connectCli } from '../../mqtt/client.js';
import { BROKER_FLAGS, brokerUrl, cliCredentials, PREFIX_FLAG } from '../broker-flags.js';
import { announceBrokerChanges } from '../broker-notices.js';
import { flagInt, flagString } from '../args.js';
import type { Verb } from '../io.js';
import { parseVerbArgs, usageError, usageLine, type VerbSpec } from '../spec.js';
import { topics } from '../../mqtt/topics.js';

/**
 * `airssys telemetry --broker URL [--gateway ID] [--component NAME]`: prints one line per sample
 * until Ctrl-C, or until `--count N` samples arrived. A lost broker is reconnected (subscription
 * restored), with one line on stderr when it goes and one when it is back.
 */
export const spec: VerbSpec = {
  name: 'telemetry',
  summary: 'tail telemetry samples from the broker',
  usage: 'telemetry --broker URL [--gateway ID] [--component NAME] [options]',
  about: 'One line per sample (time, gateway, component/channel, seq, value) until Ctrl-C or --count samples.',
  flags: [
    ...BROKER_FLAGS,
    { name: 'gateway', short: 'g', arg: 'ID', about: 'only this gateway (default all)' },
    { name: 'component', short: 'c', arg: 'NAME', about: 'only this component' },
    { name: 'channel', arg: 'C', about: 'only this channel' },
    { name: 'count', short: 'n', arg: 'N', about: 'stop after N samples' },
    PREFIX_FLAG,
    { name: 'json', about: 'one JSON object per sample' },
  ],
  examples: ['airssys telemetry --broker localhost --gateway gw-1 --component thermo --count 10'],
  exits: '0 stopped, 1 the broker is unreachable or refused the subscription, 2 invalid arguments',
};
const USAGE = usageLine(spec);

export const run: Verb = async (argv, io) => {
  const args = parseVerbArgs(argv, spec);
  if (args.positionals.length > 0) throw usageError(spec, `unexpected argument ${JSON.stringify(args.positionals[0])}`);
  const broker = brokerUrl(args, USAGE);
  const prefix = flagString(args, 'prefix') ?? 'airssys';
  const count = flagInt(args, 'count', USAGE);
  const json = args.flags.json === true;
  const filter = topics.telemetry(prefix, flagString(args, 'gateway') ?? '+', flagString(args, 'component') ?? '+', flagString(args, 'channel') ?? '+');
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
      io.err(err instanceof GatewayError ? `error: ${err.message}` : `error: the broker refused the subscription to ${filter} (${err.message}); check the broker's ACL`);
      refused = true;
      done();
    });
  });
  quiet();
  await conn.stop();
  return refused ? 1 : 0;
};
