import { existsSync } from 'node:fs';
import { GatewayError } from '../../../runtime/errors.js';
import { flagString } from '../args.js';
import type { Verb } from '../io.js';
import { atomicWrite } from '../../../runtime/durable.js';
import { generateKeyPair } from '../../ota/keys.js';
import { parseVerbArgs, usageError, type VerbSpec } from '../spec.js';

export const spec: VerbSpec = {
  name: 'keygen',
  summary: 'write an Ed25519 signing key pair, PREFIX.key and PREFIX.pub (PEM)',
  usage: 'keygen --out PREFIX [--force]',
  about: 'PREFIX.key (PKCS#8, mode 0600) signs releases and stays with the operator; PREFIX.pub (SPKI) goes into the gateways\' ota.trusted-keys. Prints the keyid gateways will report.',
  flags: [
    { name: 'out', short: 'o', arg: 'PREFIX', about: 'path prefix of the two files' },
    { name: 'force', about: 'replace existing files' },
  ],
  examples: ['airssys keygen --out keys/ota'],
  exits: '0 written, 1 the files exist (pass --force), 2 invalid arguments',
};

/** Writes PREFIX.key (PKCS#8, mode 0600) and PREFIX.pub (SPKI); prints the keyid gateways will see. */
export const run: Verb = async (argv, io) => {
  const args = parseVerbArgs(argv, spec);
  const prefix = flagString(args, 'out') ?? args.positionals[0];
  if (!prefix) throw usageError(spec, 'missing --out PREFIX');
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
