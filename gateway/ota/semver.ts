/**
 * SemVer 2.0.0 precedence (section 11), enough for the OTA version floor: numeric major.minor.patch,
 * a prerelease sorts before its release, prerelease identifiers compare numerically when both are
 * numeric, numeric < alphanumeric, shorter list first when equal so far. Build metadata is ignored.
 */

const SEMVER_RE = /^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(?:-((?:0|[1-9]\d*|\d*[A-Za-z-][0-9A-Za-z-]*)(?:\.(?:0|[1-9]\d*|\d*[A-Za-z-][0-9A-Za-z-]*))*))?(?:\+([0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*))?$/;

export interface SemVer {
  major: bigint;
  minor: bigint;
  patch: bigint;
  prerelease: string[];
}

export function parseSemver(text: string): SemVer | undefined {
  const m = SEMVER_RE.exec(text);
  if (!m) return undefined;
  return { major: BigInt(m[1]!), minor: BigInt(m[2]!), patch: BigInt(m[3]!), prerelease: m[4] ? m[4].split('.') : [] };
}

export const isSemver = (text: string): boolean => parseSemver(text) !== undefined;

const cmpBig = (a: bigint, b: bigint) => (a < b ? -1 : a > b ? 1 : 0);
const NUMERIC = /^\d+$/;

function cmpIdent(a: string, b: string): number {
  const an = NUMERIC.test(a);
  const bn = NUMERIC.test(b);
  if (an && bn) return cmpBig(BigInt(a), BigInt(b));
  if (an) return -1;
  if (bn) return 1;
  return a < b ? -1 : a > b ? 1 : 0;
}

/** -1, 0 or 1. Throws on text that is not semver (callers validate first). */
export function compareSemver(a: string, b: string): number {
  const x = parseSemver(a);
  const y = parseSemver(b);
  if (!x || !y) throw new Error(`not semver: ${!x ? a : b}`);
  const core = cmpBig(x.major, y.major) || cmpBig(x.minor, y.minor) || cmpBig(x.patch, y.patch);
  if (core) return core;
  if (x.prerelease.length === 0 || y.prerelease.length === 0) {
    return x.prerelease.length === y.prerelease.length ? 0 : x.prerelease.length === 0 ? 1 : -1;
  }
  for (let i = 0; i < Math.min(x.prerelease.length, y.prerelease.length); i++) {
    const c = cmpIdent(x.prerelease[i]!, y.prerelease[i]!);
    if (c) return c;
  }
  return Math.sign(x.prerelease.length - y.prerelease.length);
}

/** The higher of two optional versions. */
export function maxVersion(a: string | undefined, b: string | undefined): string | undefined {
  if (a === undefined || !isSemver(a)) return b !== undefined && isSemver(b) ? b : undefined;
  if (b === undefined || !isSemver(b)) return a;
  return compareSemver(a, b) >= 0 ? a : b;
}
