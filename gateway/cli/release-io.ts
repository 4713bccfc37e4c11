import { readdir, readFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { GatewayError } from '../../runtime/errors.js';
import { artifactTopic } from '../ota/chunks.js';
import { parseEnvelopeShape, sha256Hex, type Envelope } from '../ota/envelope.js';
import { publishAsync, type MqttPort } from '../ota/mqtt-port.js';

/**
 * What `push` and `rollout` share: reading a signed release and the component it was signed for,
 * publishing the component's chunks (progress is gateway/cli/progress.ts).
 */

/** The component bytes of a release: `--wasm`, else the .wasm beside the release that matches its sha256. */
export async function findComponentBytes(releasePath: string, sha256: string, explicit: string | undefined): Promise<Uint8Array> {
  const candidates: string[] = [];
  if (explicit) candidates.push(explicit);
  else {
    const dir = dirname(releasePath);
    candidates.push(join(dir, basename(releasePath).replace(/\.json$/i, '') + '.wasm'));
    try {
      for (const f of await readdir(dir)) if (f.endsWith('.wasm')) candidates.push(join(dir, f));
    } catch {
      /* the release's directory is unreadable: only --wasm can help */
    }
  }
  for (const c of candidates) {
    try {
      const bytes = new Uint8Array(await readFile(c));
      if (sha256Hex(bytes) === sha256) return bytes;
      if (explicit) throw new GatewayError('BAD_FILE', `${c} does not match the release (sha256 ${sha256Hex(bytes)}, release says ${sha256}); pass the component the release was signed for`);
    } catch (err) {
      if (err instanceof GatewayError) throw err;
      if (explicit) throw new GatewayError('BAD_FILE', `cannot read ${c}; check --wasm`);
    }
  }
  throw new GatewayError('BAD_FILE', `no component with sha256 ${sha256.slice(0, 16)}… next to ${releasePath}; pass it with --wasm FILE.wasm`);
}

export interface LoadedRelease {
  envelope: Envelope;
  bytes: Uint8Array;
  /** Exactly what is published as the envelope. */
  payload: Buffer;
}

/** A signed RELEASE.json and its component bytes; one-line BAD_FILE errors for anything unreadable. */
export async function readReleaseFile(file: string, wasm: string | undefined): Promise<LoadedRelease> {
  let raw: unknown;
  try {
    raw = JSON.parse(await readFile(file, 'utf8'));
  } catch (err) {
    throw new GatewayError('BAD_FILE', `cannot read release ${file} (${(err as Error).message.split('\n')[0]}); write one with \`airssys sign\``);
  }
  let envelope: Envelope;
  try {
    envelope = parseEnvelopeShape(raw);
  } catch (err) {
    throw new GatewayError('BAD_FILE', `release ${file} is malformed: ${(err as Error).message}; write it again with \`airssys sign\``);
  }
  const bytes = await findComponentBytes(file, envelope.manifest.sha256, wasm);
  // Publish what was signed, compactly: the same file always gives the same bytes (idempotent re-push).
  return { envelope, bytes, payload: Buffer.from(JSON.stringify(raw)) };
}

/** Publishes the component's chunks, retained, a few in flight at a time (before any envelope). */
export async function publishChunks(client: MqttPort, prefix: string, envelope: Envelope, bytes: Uint8Array, progress?: (sent: number, total: number) => void, signal?: AbortSignal): Promise<void> {
  const m = envelope.manifest;
  let sent = 0;
  let next = 0;
  const window = 8;
  const worker = async () => {
    while (next < m.chunks && !signal?.aborted) {
      const i = next++;
      await publishAsync(client, artifactTopic(prefix, m.sha256, i), Buffer.from(bytes.subarray(i * m.chunkSize, Math.min(m.size, (i + 1) * m.chunkSize))), { qos: 1, retain: true });
      progress?.(++sent, m.chunks);
    }
  };
  await Promise.all(Array.from({ length: Math.min(window, m.chunks) }, worker));
}
