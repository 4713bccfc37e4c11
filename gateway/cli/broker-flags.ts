import { readFileSync } from 'node:fs';
import { GatewayError } from '../../runtime/errors.js';
import type { CliConnectOptions } from '../mqtt/client.js';
import { flagString, type ParsedArgs } from './args.js';
import type { FlagSpec } from './spec.js';

/** The flags of every verb that talks to a broker, with their help, in one place. */
export const BROKER_FLAGS: FlagSpec[] = [
  { name: 'broker', short: 'b', arg: 'URL', about: 'MQTT broker: mqtt://, mqtts://, ws://; a bare host or host:port means mqtt://' },
  { name: 'username', arg: 'U', about: 'broker user (else AIRSSYS_MQTT_USERNAME or the user in --broker)' },
  { name: 'password', arg: 'P', about: 'broker password (else AIRSSYS_MQTT_PASSWORD or the password in --broker)' },
  { name: 'ca', arg: 'CA.pem', about: 'CA certificate for mqtts://' },
];

export const PREFIX_FLAG: FlagSpec = { name: 'prefix', arg: 'PREFIX', about: 'topic prefix the gateways use (default airssys)' };

/**
 * An operator types `--broker 127.0.0.1:1883` or `--broker localhost` as often as a full URL; both
 * mean plain MQTT. Anything with a scheme is kept as given.
 */
export function normalizeBrokerUrl(raw: string): string {
  const url = raw.trim();
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(url)) return url;
  if (url === '') throw new GatewayError('USAGE', '--broker is empty; give a broker such as mqtt://127.0.0.1:1883');
  return `mqtt://${url}`;
}

/** `--broker`, normalized; a usage error naming the flag when it is missing. */
export function brokerUrl(args: ParsedArgs, usage: string): string {
  const raw = flagString(args, 'broker');
  if (raw === undefined) throw new GatewayError('USAGE', `missing --broker URL (e.g. --broker 127.0.0.1:1883); usage: ${usage}`);
  return normalizeBrokerUrl(raw);
}

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
