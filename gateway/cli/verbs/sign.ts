import { writeFile } from 'node:fs/promises';
import { GatewayError } from '../../../runtime/errors.js';
import { flagInt, flagString, requireFlag, type ParsedArgs } from '../args.js';
import type { Verb } from '../io.js';
import { parseVerbArgs, usageError, usageLine, type FlagSpec, type VerbSpec } from '../spec.js';
import { readPrivateKeyFile } from '../../ota/keys.js';
import { buildRelease, parseExpires } from '../../ota/release.js';
import { readComponentFile, readManifestObject } from '../../component/manifest-file.js';
import type { Envelope } from '../../ota/envelope.js';

/** Flags shared with `push`, which signs in memory when given a .wasm. */
export const RELEASE_FLAGS: FlagSpec[] = [
  { name: 'manifest', short: 'm', arg: 'M.yaml', about: 'the component\'s manifest; its name, version, capabilities and limits go into the release' },
  { name: 'key', short: 'k', arg: 'K.key', repeatable: true, about: 'Ed25519 private key (PEM) to sign with; one per signature the gateways\' threshold needs' },
  { name: 'target', arg: 'ID|group:G', repeatable: true, about: 'limit the release to these gateways or groups (default: every gateway that receives it)' },
  { name: 'targets', arg: 'LIST', about: 'the same as a comma-separated list' },
  { name: 'expires', arg: '30d|ISO', about: 'when gateways stop accepting the release (a duration from now or an ISO date)' },
  { name: 'chunk-size', arg: 'BYTES', about: 'size of the artifact chunks (default 65536)' },
];

export const spec: VerbSpec = {
  name: 'sign',
  summary: 'write a signed OTA release envelope for a component',
  usage: 'sign FILE.wasm --manifest M.yaml --key K.key -o RELEASE.json [options]',
  about: 'The envelope carries the manifest (sha256, size, chunks, world, capabilities, limits) and an Ed25519 signature per --key over its canonical JSON. Publish it with `airssys push RELEASE.json` (the .wasm next to it is found by its sha256).',
  flags: [{ name: 'out', short: 'o', arg: 'RELEASE.json', about: 'where to write the envelope' }, ...RELEASE_FLAGS],
  examples: ['airssys sign thermo.wasm --manifest thermo.yaml --key keys/ota.key --target group:lab --expires 30d -o thermo-1.1.0.json'],
  exits: '0 written, 1 a file cannot be read or the component is invalid, 2 invalid arguments',
};
const USAGE = usageLine(spec);

export async function envelopeFromFlags(wasmPath: string, args: ParsedArgs, usage: string): Promise<{ envelope: Envelope; bytes: Uint8Array }> {
  const manifestPath = requireFlag(args, 'manifest', usage);
  const keyFlags = args.flags.key;
  const keyPaths = Array.isArray(keyFlags) ? keyFlags : [];
  if (keyPaths.length === 0) throw new GatewayError('USAGE', `missing --key; usage: ${usage}`);
  const targetsFlag = args.flags.target;
  const targets = [
    ...(Array.isArray(targetsFlag) ? targetsFlag : []),
    ...(flagString(args, 'targets')?.split(',') ?? []),
  ]
    .map((t) => t.trim())
    .filter(Boolean);
  const expires = flagString(args, 'expires');
  const chunkSize = flagInt(args, 'chunk-size', usage);
  const bytes = await readComponentFile(wasmPath);
  const envelope = buildRelease({
    bytes,
    manifest: await readManifestObject(manifestPath),
    keys: keyPaths.map(readPrivateKeyFile),
    ...(chunkSize !== undefined ? { chunkSize } : {}),
    ...(expires !== undefined ? { expires: parseExpires(expires) } : {}),
    ...(targets.length ? { targets } : {}),
  });
  return { envelope, bytes };
}

export const run: Verb = async (argv, io) => {
  const args = parseVerbArgs(argv, spec);
  const [wasm, ...extra] = args.positionals;
  if (!wasm || extra.length) throw usageError(spec, 'give exactly one component file');
  const out = requireFlag(args, 'out', USAGE);
  const { envelope } = await envelopeFromFlags(wasm, args, USAGE);
  await writeFile(out, JSON.stringify(envelope, null, 2) + '\n');
  const m = envelope.manifest;
  io.out(`wrote ${out}: ${m.component} ${m.version}, ${m.size} bytes in ${m.chunks} chunk(s), sha256 ${m.sha256}, ${envelope.signatures.length} signature(s)`);
  return 0;
};
