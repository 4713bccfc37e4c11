import { GatewayError } from '../../../runtime/errors.js';
import { flagInt, flagString } from '../args.js';
import type { Verb } from '../io.js';
import { parseVerbArgs, usageError, usageLine, type VerbSpec } from '../spec.js';

export const spec: VerbSpec = {
  name: 'doctor',
  summary: 'check this machine for running the gateway (GPIO, serial, permissions, broker)',
  usage: 'doctor [--config FILE] [options]',
  about: 'One line per check (ok / warn / fail, with the fix), then a count.',
  flags: [
    { name: 'config', short: 'c', arg: 'FILE', about: 'gateway configuration to check (its broker, devices, data directory)' },
    { name: 'sysfs', arg: 'ROOT', about: 'read /sys from ROOT instead (tests, a mounted SD card)' },
    { name: 'dev', arg: 'ROOT', about: 'read /dev from ROOT instead' },
    { name: 'etc', arg: 'ROOT', about: 'read /etc from ROOT instead' },
    { name: 'user', arg: 'NAME', about: 'check the permissions of this user (default: the current one)' },
    { name: 'timeout', arg: 'MS', about: 'how long to try the broker' },
  ],
  examples: ['airssys doctor --config /etc/airssys/gateway.yaml --user airssys'],
  exits: '0 no check failed, 1 a check failed, 2 invalid arguments',
};
const USAGE = usageLine(spec);

/**
 * `airssys doctor`: one line per check (ok / warn / fail, with the fix), exit 1 when anything fails.
 * --sysfs and --dev point the checks at other trees (tests, or a mounted SD card).
 */
export const run: Verb = async (argv, io) => {
  const args = parseVerbArgs(argv, spec);
  if (args.positionals.length > 0) throw usageError(spec, `unexpected ${args.positionals[0]}`);
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
