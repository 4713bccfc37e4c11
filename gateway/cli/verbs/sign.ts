import { writeFile } from 'node:fs/promises';
import { GatewayError } from '../../../runtime/errors.js';
import { flagInt, flagString, parseArgs, requireFlag, type ParsedArgs } from '../args.js';
import type { Verb } from '../io.js';
import { readPrivateKeyFile } from '../../ota/keys.js';
import { buildRelease, parseExpires } from '../../ota/release.js';
import { readComponentFile, readManifestObject } from '../../component/manifest-file.js';
import type { Envelope } from '../../ota/envelope.js';

const USAGE =
  'airssys sign FILE.wasm --manifest M.yaml --key K.key [--key K2.key] -o RELEASE.json [--target ID|group:G]... [--expires 30d|ISO] [--chunk-size BYTES]';

/** Flags shared with `push`, which signs in memory when given a .wasm. */
export const RELEASE_FLAGS = ['manifest', 'key', 'target', 'targets', 'expires', 'chunk-size'];

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
  const args = parseArgs(argv, {
    usage: USAGE,
    values: ['manifest', 'key', 'out', 'target', 'targets', 'expires', 'chunk-size'],
    repeatable: ['key', 'target'],
    aliases: { o: 'out', m: 'manifest', k: 'key' },
  });
  const [wasm, ...extra] = args.positionals;
  if (!wasm || extra.length) throw new GatewayError('USAGE', `give exactly one component file; usage: ${USAGE}`);
  const out = requireFlag(args, 'out', USAGE);
  const { envelope } = await envelopeFromFlags(wasm, args, USAGE);
  await writeFile(out, JSON.stringify(envelope, null, 2) + '\n');
  const m = envelope.manifest;
  io.out(`wrote ${out}: ${m.component} ${m.version}, ${m.size} bytes in ${m.chunks} chunk(s), sha256 ${m.sha256}, ${envelope.signatures.length} signature(s)`);
  return 0;
};
