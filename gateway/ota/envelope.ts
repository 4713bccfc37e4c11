import { type KeyObject } from 'node:crypto';
import { sha256Hex } from '../../runtime/cache.js';
import { GatewayError } from '../../runtime/errors.js';
import { echo } from '../../runtime/echo.js';
import { parseManifest, type Manifest } from '../../runtime/manifest.js';
import { WORLD_NAMES } from '../../runtime/world.js';
import { verifyManifest, type Signature } from './keys.js';
import type { Reason } from './reasons.js';
import { compareSemver, isSemver } from './semver.js';
import { isObj, type Obj } from '../../runtime/data.js';

/**
 * The OTA release envelope (contract section 5): parse the bytes that arrived over MQTT and decide,
 * without fetching a single chunk, whether the release may proceed. Checks run cheapest and most
 * fundamental first: size, JSON, shape, signatures (nothing unauthenticated is acted on beyond
 * that), expiry, targets, world, version floor, size bound, capability ceiling.
 */

export const DEFAULT_MAX_ENVELOPE_BYTES = 64 * 1024;
export const DEFAULT_CHUNK_SIZE = 64 * 1024;
/** Chunk payloads above this are refused as a malformed envelope (MQTT brokers cap messages too). */
export const MAX_CHUNK_SIZE = 16 * 1024 * 1024;

export interface ReleaseManifest {
  component: string;
  version: string;
  sha256: string;
  size: number;
  chunkSize: number;
  chunks: number;
  world: string;
  capabilities: Record<string, unknown>;
  limits: Record<string, unknown>;
  'tick-ms'?: number;
  expires?: string;
  targets?: string[];
  /** Optional extras mapped onto the runtime manifest as in contract section 2. */
  restart?: Record<string, unknown>;
  isolation?: string;
}

export interface Envelope {
  manifest: ReleaseManifest;
  signatures: Signature[];
}

export interface Release {
  envelope: Envelope;
  manifest: ReleaseManifest;
  /** The runtime manifest (parseManifest of the YAML-shaped equivalent). */
  runtime: Manifest;
  /** Lowercase hex SHA-256 of the envelope bytes as received: the identity used for replay detection. */
  envelopeSha256: string;
  /** keyids whose signatures verified. */
  signedBy: string[];
}

export type CheckResult =
  | { ok: true; release: Release }
  | { ok: false; reason: Reason; detail: string; component?: string; version?: string; envelopeSha256: string };

export interface EnvelopeCheckOptions {
  gatewayId: string;
  groups: readonly string[];
  /** Trusted public keys by keyid (see keys.trustStore). */
  trustedKeys: ReadonlyMap<string, KeyObject>;
  threshold: number;
  maxArtifactBytes: number;
  maxEnvelopeBytes?: number;
  /** The component named by the topic the envelope came on; a different `component` is refused. */
  component?: string;
  /** Highest version ever committed for a component (undefined: none). */
  floor: (component: string) => string | undefined;
  /** Policy ceiling: violations, [] when the manifest fits. */
  checkCapabilities: (manifest: Manifest) => string[];
  /** Injectable clock (ms since epoch) for `expires`. */
  now?: () => number;
}

const SHA_RE = /^[0-9a-f]{64}$/;
const ISO_RE = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:\d{2})$/;
const MANIFEST_KEYS = ['component', 'version', 'sha256', 'size', 'chunkSize', 'chunks', 'world', 'capabilities', 'limits', 'tick-ms', 'expires', 'targets', 'restart', 'isolation'];


class Reject extends Error {
  constructor(
    readonly reason: Reason,
    readonly detail: string,
  ) {
    super(detail);
  }
}
const bad = (detail: string) => new Reject('bad-envelope', detail);

export { sha256Hex };

/** The YAML-shaped manifest (contract section 2) a release manifest stands for. */
export function runtimeManifestSource(m: ReleaseManifest): Record<string, unknown> {
  const src: Record<string, unknown> = { name: m.component, version: m.version, capabilities: m.capabilities, limits: m.limits };
  if (m['tick-ms'] !== undefined) src['tick-ms'] = m['tick-ms'];
  if (m.restart !== undefined) src.restart = m.restart;
  if (m.isolation !== undefined) src.isolation = m.isolation;
  return src;
}

function int(v: unknown, key: string, min: number, max: number): number {
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < min || v > max) throw bad(`manifest.${key} must be an integer from ${min} to ${max}, got ${echo(v)}`);
  return v;
}

function text(v: unknown, key: string): string {
  if (typeof v !== 'string' || v.length === 0) throw bad(`manifest.${key} must be a non-empty string`);
  return v;
}

/** Shape only: types, formats and arithmetic consistency. Throws Reject('bad-envelope'). */
export function parseEnvelopeShape(raw: unknown): Envelope {
  if (!isObj(raw)) throw bad('envelope must be a JSON object with manifest and signatures');
  for (const k of Object.keys(raw)) if (k !== 'manifest' && k !== 'signatures') throw bad(`unknown envelope key ${echo(k)}`);
  const m = raw.manifest;
  if (!isObj(m)) throw bad('envelope.manifest must be an object');
  for (const k of Object.keys(m)) if (!MANIFEST_KEYS.includes(k)) throw bad(`unknown manifest key ${echo(k)}`);
  const component = text(m.component, 'component');
  if (!/^[a-z0-9][a-z0-9-]{0,63}$/.test(component)) throw bad(`manifest.component ${echo(component)} is not a component name`);
  const version = text(m.version, 'version');
  if (!isSemver(version)) throw bad(`manifest.version ${echo(version)} is not semver`);
  const sha256 = text(m.sha256, 'sha256');
  if (!SHA_RE.test(sha256)) throw bad('manifest.sha256 must be 64 lowercase hex digits');
  const size = int(m.size, 'size', 1, Number.MAX_SAFE_INTEGER);
  const chunkSize = int(m.chunkSize, 'chunkSize', 1, MAX_CHUNK_SIZE);
  const chunks = int(m.chunks, 'chunks', 1, Number.MAX_SAFE_INTEGER);
  if (chunks !== Math.ceil(size / chunkSize)) throw bad(`manifest.chunks is ${chunks} but size ${size} in chunks of ${chunkSize} needs ${Math.ceil(size / chunkSize)}`);
  const world = text(m.world, 'world');
  const capabilities = m.capabilities ?? {};
  if (!isObj(capabilities)) throw bad('manifest.capabilities must be an object');
  const limits = m.limits ?? {};
  if (!isObj(limits)) throw bad('manifest.limits must be an object');
  const out: ReleaseManifest = { component, version, sha256, size, chunkSize, chunks, world, capabilities, limits };
  if (m['tick-ms'] !== undefined) out['tick-ms'] = int(m['tick-ms'], 'tick-ms', 1, 86_400_000);
  if (m.expires !== undefined) {
    const e = text(m.expires, 'expires');
    if (!ISO_RE.test(e) || Number.isNaN(Date.parse(e))) throw bad(`manifest.expires ${echo(e)} is not an ISO 8601 date-time with a zone`);
    out.expires = e;
  }
  if (m.targets !== undefined) {
    if (!Array.isArray(m.targets) || m.targets.some((t) => typeof t !== 'string' || t.length === 0 || t === 'group:')) {
      throw bad('manifest.targets must be a list of gateway ids and group:<name> entries');
    }
    out.targets = m.targets as string[];
  }
  if (m.restart !== undefined) {
    if (!isObj(m.restart)) throw bad('manifest.restart must be an object');
    out.restart = m.restart;
  }
  if (m.isolation !== undefined) out.isolation = text(m.isolation, 'isolation');
  if (!Array.isArray(raw.signatures)) throw bad('envelope.signatures must be a list');
  const signatures = raw.signatures.map((s, i) => {
    if (!isObj(s) || typeof s.keyid !== 'string' || typeof s.sig !== 'string') throw bad(`envelope.signatures[${i}] must be { keyid, sig } strings`);
    return { keyid: s.keyid, sig: s.sig };
  });
  // Verify over what was sent, not over our normalised copy: the signer signed their object.
  return { manifest: { ...(m as unknown as ReleaseManifest), ...out }, signatures };
}

/**
 * Signature rule of contract section 5: only trusted keyids count, each key once. No signature
 * from a trusted key: `untrusted-key`. A trusted key whose signature does not verify, or fewer than
 * `threshold` distinct trusted keys verifying: `bad-signature`. Returns the verifying keyids.
 */
export function checkSignatures(manifest: unknown, signatures: Signature[], trusted: ReadonlyMap<string, KeyObject>, threshold: number): string[] {
  const fromTrusted = signatures.filter((s) => trusted.has(s.keyid));
  if (fromTrusted.length === 0) {
    throw new Reject('untrusted-key', signatures.length === 0 ? 'the envelope has no signatures' : `no signature from a trusted key (keyids: ${signatures.map((s) => s.keyid.slice(0, 16)).join(', ')})`);
  }
  const good = new Set<string>();
  for (const s of fromTrusted) {
    if (!verifyManifest(manifest, s.sig, trusted.get(s.keyid)!)) throw new Reject('bad-signature', `signature by trusted key ${s.keyid.slice(0, 16)}… does not verify`);
    good.add(s.keyid);
  }
  if (good.size < threshold) throw new Reject('bad-signature', `${good.size} distinct trusted key(s) signed; threshold is ${threshold}`);
  return [...good];
}

export function isTargeted(targets: readonly string[] | undefined, gatewayId: string, groups: readonly string[]): boolean {
  if (targets === undefined) return true;
  return targets.some((t) => (t.startsWith('group:') ? groups.includes(t.slice(6)) : t === gatewayId));
}

/** Everything except the chunks: the release may proceed to download iff ok. */
export function checkEnvelope(bytes: Uint8Array, opts: EnvelopeCheckOptions): CheckResult {
  const envelopeSha256 = sha256Hex(bytes);
  let component: string | undefined;
  let version: string | undefined;
  try {
    const max = opts.maxEnvelopeBytes ?? DEFAULT_MAX_ENVELOPE_BYTES;
    if (bytes.length > max) throw bad(`envelope is ${bytes.length} bytes; the limit is ${max}`);
    let raw: unknown;
    try {
      raw = JSON.parse(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('utf8'));
    } catch (err) {
      throw bad(`envelope is not JSON (${(err as Error).message})`);
    }
    // Report what the sender claimed even when the rest is bad, so status shows a version.
    if (isObj(raw) && isObj(raw.manifest)) {
      if (typeof raw.manifest.component === 'string') component = raw.manifest.component;
      if (typeof raw.manifest.version === 'string') version = raw.manifest.version;
    }
    const env = parseEnvelopeShape(raw);
    const m = env.manifest;
    if (opts.component !== undefined && m.component !== opts.component) {
      throw bad(`envelope for component ${m.component} arrived on the topic of ${opts.component}`);
    }
    const signedBy = checkSignatures((raw as Obj).manifest, env.signatures, opts.trustedKeys, Math.max(1, opts.threshold));
    const now = (opts.now ?? Date.now)();
    if (m.expires !== undefined && Date.parse(m.expires) <= now) throw new Reject('expired', `release expired at ${m.expires}`);
    if (!isTargeted(m.targets, opts.gatewayId, opts.groups)) {
      throw new Reject('not-targeted', `targets ${echo(m.targets)} name neither ${opts.gatewayId} nor its groups ${echo(opts.groups)}`);
    }
    if (!WORLD_NAMES.includes(m.world)) throw new Reject('incompatible-world', `release is for world ${m.world}; this gateway runs ${WORLD_NAMES.join(' and ')}`);
    const floor = opts.floor(m.component);
    if (floor !== undefined && compareSemver(m.version, floor) <= 0) {
      throw new Reject('downgrade', `version ${m.version} is not above ${floor}, the highest committed for ${m.component}`);
    }
    if (m.size > opts.maxArtifactBytes) throw new Reject('too-large', `component is ${m.size} bytes; max-artifact-bytes is ${opts.maxArtifactBytes}`);
    let runtime: Manifest;
    try {
      runtime = parseManifest(runtimeManifestSource(m));
    } catch (err) {
      throw bad(err instanceof GatewayError ? err.message : String(err));
    }
    const violations = opts.checkCapabilities(runtime);
    if (violations.length > 0) throw new Reject('capability-denied', violations.join('; '));
    return { ok: true, release: { envelope: env, manifest: m, runtime, envelopeSha256, signedBy } };
  } catch (err) {
    if (err instanceof Reject) {
      const r: CheckResult = { ok: false, reason: err.reason, detail: err.detail, envelopeSha256 };
      if (component !== undefined) r.component = component;
      if (version !== undefined) r.version = version;
      return r;
    }
    throw err;
  }
}
