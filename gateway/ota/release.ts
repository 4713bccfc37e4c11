import type { KeyObject } from 'node:crypto';
import { GatewayError } from '../../runtime/errors.js';
import { parseManifest } from '../../runtime/manifest.js';
import { WORLD_NAME } from '../../runtime/world.js';
import { DEFAULT_CHUNK_SIZE, MAX_CHUNK_SIZE, sha256Hex, type Envelope, type ReleaseManifest } from './envelope.js';
import { signManifest } from './keys.js';

/** The operator's side of a release: manifest YAML + component bytes + keys → signed envelope. */

export interface BuildReleaseOptions {
  bytes: Uint8Array;
  /** The component manifest as in contract section 2 (parsed YAML). */
  manifest: Record<string, unknown>;
  keys: KeyObject[];
  chunkSize?: number;
  expires?: string;
  targets?: string[];
  /** Override the world (tests of `incompatible-world`). */
  world?: string;
}

export function buildReleaseManifest(opts: Omit<BuildReleaseOptions, 'keys'>): ReleaseManifest {
  const m = parseManifest(opts.manifest); // clear errors for a bad manifest before anything is signed
  const chunkSize = opts.chunkSize ?? DEFAULT_CHUNK_SIZE;
  if (!Number.isInteger(chunkSize) || chunkSize < 1 || chunkSize > MAX_CHUNK_SIZE) {
    throw new GatewayError('USAGE', `--chunk-size must be 1 to ${MAX_CHUNK_SIZE} bytes, got ${chunkSize}`);
  }
  if (opts.bytes.length === 0) throw new GatewayError('BAD_FILE', 'the component file is empty; build it first with `airssys build`');
  const out: ReleaseManifest = {
    component: m.name,
    version: m.version,
    sha256: sha256Hex(opts.bytes),
    size: opts.bytes.length,
    chunkSize,
    chunks: Math.ceil(opts.bytes.length / chunkSize),
    world: opts.world ?? WORLD_NAME,
    capabilities: (opts.manifest.capabilities as Record<string, unknown> | undefined) ?? {},
    limits: (opts.manifest.limits as Record<string, unknown> | undefined) ?? {},
  };
  if (m.tickMs !== undefined) out['tick-ms'] = m.tickMs;
  if (opts.manifest.restart !== undefined) out.restart = opts.manifest.restart as Record<string, unknown>;
  if (opts.manifest.isolation !== undefined) out.isolation = String(opts.manifest.isolation);
  if (opts.expires !== undefined) out.expires = opts.expires;
  if (opts.targets !== undefined) out.targets = opts.targets;
  return out;
}

export function buildRelease(opts: BuildReleaseOptions): Envelope {
  const manifest = buildReleaseManifest(opts);
  return signEnvelopeManifest(manifest, opts.keys);
}

export function signEnvelopeManifest(manifest: ReleaseManifest, keys: KeyObject[]): Envelope {
  if (keys.length === 0) throw new GatewayError('USAGE', 'a release needs at least one --key');
  return { manifest, signatures: keys.map((k) => signManifest(manifest, k)) };
}

/** `30d`, `12h`, `90m` from now, or an ISO 8601 date-time. */
export function parseExpires(text: string, now = Date.now()): string {
  const rel = /^(\d+)([smhd])$/.exec(text);
  if (rel) {
    const unit = { s: 1e3, m: 60e3, h: 3600e3, d: 86400e3 }[rel[2] as 's' | 'm' | 'h' | 'd'];
    return new Date(now + Number(rel[1]) * unit).toISOString().replace(/\.\d{3}Z$/, 'Z');
  }
  if (/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2})$/.test(text) && !Number.isNaN(Date.parse(text))) return text;
  throw new GatewayError('USAGE', `--expires ${JSON.stringify(text)} is neither a duration (30d, 12h, 90m) nor an ISO date-time like 2026-12-31T00:00:00Z`);
}

