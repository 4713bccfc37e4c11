import { readFileSync } from 'node:fs';
import { GatewayError } from '../../runtime/errors.js';
import type { CliConnectOptions } from '../mqtt/client.js';
import { flagString, type ParsedArgs } from './args.js';

/** `--username`, `--password`, `--ca FILE`: the same broker credentials for every verb that connects. */
export function cliCredentials(args: ParsedArgs): CliConnectOptions {
  const out: CliConnectOptions = {};
  const username = flagString(args, 'username');
  const password = flagString(args, 'password');
  const ca = flagString(args, 'ca');
  if (username !== undefined) out.username = username;
  if (password !== undefined) out.password = password;
  if (ca !== undefined) {
    try {
      out.ca = readFileSync(ca);
    } catch (err) {
      throw new GatewayError('USAGE', `cannot read --ca ${ca} (${(err as NodeJS.ErrnoException).code}); check the path`);
    }
  }
  return out;
}
