import { GatewayError } from '../../../runtime/errors.js';
import { flagInt, flagString, parseArgs } from '../args.js';
import type { Verb } from '../io.js';

const USAGE = 'airssys doctor [--config FILE] [--sysfs ROOT] [--dev ROOT] [--user NAME] [--timeout MS]';

/**
 * `airssys doctor`: one line per check (ok / warn / fail, with the fix), exit 1 when anything fails.
 * --sysfs and --dev point the checks at other trees (tests, or a mounted SD card).
 */
export const run: Verb = async (argv, io) => {
  const args = parseArgs(argv, { usage: USAGE, values: ['config', 'sysfs', 'dev', 'etc', 'user', 'timeout'], aliases: { c: 'config' } });
  if (args.positionals.length > 0) throw new GatewayError('USAGE', `unexpected ${args.positionals[0]}; usage: ${USAGE}`);
  const { runDoctor, formatResult } = await import('../../doctor/index.js');
  let results;
  try {
    results = await runDoctor({
      config: flagString(args, 'config'),
      sysfsRoot: flagString(args, 'sysfs'),
      devRoot: flagString(args, 'dev'),
      etcRoot: flagString(args, 'etc'),
      user: flagString(args, 'user'),
      brokerTimeoutMs: flagInt(args, 'timeout', USAGE),
    });
  } catch (err) {
    if (err instanceof Error && /^user .* not found/.test(err.message)) throw new GatewayError('USAGE', `${err.message}; pass an existing user to --user`);
    throw err;
  }
  for (const r of results) io.out(formatResult(r));
  const fails = results.filter((r) => r.status === 'fail').length;
  const warns = results.filter((r) => r.status === 'warn').length;
  io.out(fails ? `${fails} check${fails > 1 ? 's' : ''} failed, ${warns} warning${warns === 1 ? '' : 's'}` : `all checks passed${warns ? ` (${warns} warning${warns === 1 ? '' : 's'})` : ''}`);
  return fails ? 1 : 0;
};
