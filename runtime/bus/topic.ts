/**
 * MQTT topic names and filters (MQTT 3.1.1 §4.7 / 5.0 §4.7), as plain functions.
 *
 * - Levels are separated by `/`; empty levels are legal (`a//b`, `/a`).
 * - `+` matches exactly one level and must be the whole level; `#` matches any number of levels,
 *   including zero — so `a/#` also matches `a` (the parent level) — and must be the last level.
 * - A topic whose first level starts with `$` is not matched by a filter whose first level is a
 *   wildcard (`#`, `+/…`); `$SYS/#` matches it.
 * - Names and filters are 1..65535 UTF-8 bytes and contain no U+0000.
 */

const MAX_BYTES = 65_535;

function byteLength(s: string): number {
  // Fast path: most topics are ASCII and short.
  if (s.length * 3 <= MAX_BYTES) return s.length;
  return Buffer.byteLength(s, 'utf8');
}

export function isValidTopicName(topic: string): boolean {
  if (typeof topic !== 'string' || topic.length === 0 || byteLength(topic) > MAX_BYTES) return false;
  for (let i = 0; i < topic.length; i++) {
    const c = topic.charCodeAt(i);
    if (c === 0x2b /* + */ || c === 0x23 /* # */ || c === 0) return false;
  }
  return true;
}

export function isValidFilter(filter: string): boolean {
  if (typeof filter !== 'string' || filter.length === 0 || byteLength(filter) > MAX_BYTES) return false;
  if (filter.includes('\u0000')) return false;
  const levels = filter.split('/');
  for (let i = 0; i < levels.length; i++) {
    const l = levels[i]!;
    if (l === '+') continue;
    if (l === '#') {
      if (i !== levels.length - 1) return false;
      continue;
    }
    if (l.includes('+') || l.includes('#')) return false;
  }
  return true;
}

/** Does `filter` match `topic`? Both assumed valid. */
export function topicMatches(filter: string, topic: string): boolean {
  const f = filter.split('/');
  const t = topic.split('/');
  if (topic.startsWith('$') && (f[0] === '+' || f[0] === '#')) return false;
  for (let i = 0; i < f.length; i++) {
    const l = f[i]!;
    if (l === '#') return true; // covers the parent level too (t.length === i)
    if (i >= t.length) return false;
    if (l !== '+' && l !== t[i]) return false;
  }
  return f.length === t.length;
}

/**
 * Is every topic matched by `inner` also matched by `outer`? Used for capability checks: a
 * subscription or grant `inner` is allowed when a granted `outer` covers it.
 */
export function filterCovers(outer: string, inner: string): boolean {
  if (!isValidFilter(outer) || !isValidFilter(inner)) return false;
  const o = outer.split('/');
  const n = inner.split('/');
  // `$` topics: a wildcard first level in outer matches none of them.
  const outerWild0 = o[0] === '+' || o[0] === '#';
  if (outerWild0 && n[0]!.startsWith('$')) return false;
  for (let i = 0; i < o.length; i++) {
    const ol = o[i]!;
    if (ol === '#') return true; // everything at and below this level, and the parent level
    if (i >= n.length) return false; // inner stops earlier (e.g. inner `a`, outer `a/+`)
    const nl = n[i]!;
    if (nl === '#') return false; // inner spans any depth here, outer does not
    if (ol === '+') continue; // one level: a literal or `+` in inner fits
    if (nl === '+' || nl !== ol) return false;
  }
  if (n.length === o.length) return true;
  // inner is longer: only its `#` matching the parent level (== outer's full length) could fit, and
  // that needs inner to go deeper too, which outer cannot follow.
  return false;
}
