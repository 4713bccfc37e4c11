import { existsSync } from 'node:fs';
import { GatewayError } from '../../../runtime/errors.js';
import { flagString, parseArgs } from '../args.js';
import type { Verb } from '../io.js';
import { atomicWrite } from '../../ota/durable.js';
import { generateKeyPair } from '../../ota/keys.js';

const USAGE = 'airssys keygen --out PREFIX [--force]';

/** Writes PREFIX.key (PKCS#8, mode 0600) and PREFIX.pub (SPKI); prints the keyid gateways will see. */
export const run: Verb = async (argv, io) => {
  const args = parseArgs(argv, { usage: USAGE, values: ['out'], booleans: ['force'], aliases: { o: 'out' } });
  const prefix = flagString(args, 'out') ?? args.positionals[0];
  if (!prefix) throw new GatewayError('USAGE', `missing --out PREFIX; usage: ${USAGE}`);
  const keyPath = `${prefix}.key`;
  const pubPath = `${prefix}.pub`;
  if (!args.flags.force) {
    for (const p of [keyPath, pubPath]) {
      if (existsSync(p)) throw new GatewayError('EXISTS', `${p} already exists; pick another --out or pass --force to replace it`);
    }
  }
  const pair = generateKeyPair();
  await atomicWrite(keyPath, pair.privateKeyPem, { mode: 0o600 });
  await atomicWrite(pubPath, pair.publicKeyPem);
  io.out(`wrote ${keyPath} (private, keep it secret) and ${pubPath} (add to ota.trusted-keys)`);
  io.out(`keyid ${pair.keyid}`);
  return 0;
};
