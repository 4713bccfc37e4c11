/** MQTT topic names and filters (levels split on `/`, `+` one level, `#` the rest). */

/** A topic a component may publish to: no wildcards, no NUL, 1-256 characters. Returns the problem or undefined. */
export function topicProblem(topic: unknown): string | undefined {
  if (typeof topic !== 'string' || topic.length === 0) return 'topic is empty';
  if (topic.length > 256) return `topic is ${topic.length} characters long (max 256)`;
  if (topic.includes('+') || topic.includes('#')) return `topic ${JSON.stringify(topic)} contains a wildcard (+ or #); send to a concrete topic`;
  if (topic.includes('\u0000')) return 'topic contains a NUL character';
  if (topic.startsWith('$')) return `topic ${JSON.stringify(topic)} starts with $ (reserved for the broker)`;
  return undefined;
}

/** A well-formed filter: `#` only as the whole last level, `+` only as a whole level. */
export function filterProblem(filter: string): string | undefined {
  if (filter.length === 0) return 'filter is empty';
  const levels = filter.split('/');
  for (let i = 0; i < levels.length; i++) {
    const l = levels[i]!;
    if (l.includes('#') && (l !== '#' || i !== levels.length - 1)) return `filter ${JSON.stringify(filter)}: # must be the whole last level`;
    if (l.includes('+') && l !== '+') return `filter ${JSON.stringify(filter)}: + must be a whole level`;
  }
  return undefined;
}

/** Does `filter` match the concrete `topic`? */
export function topicMatches(filter: string, topic: string): boolean {
  const f = filter.split('/');
  const t = topic.split('/');
  if (t[0]!.startsWith('$') && (f[0] === '+' || f[0] === '#')) return false;
  for (let i = 0; i < f.length; i++) {
    const fl = f[i]!;
    if (fl === '#') return true; // also matches the parent level (a/# matches a)
    if (i >= t.length) return false;
    if (fl !== '+' && fl !== t[i]) return false;
  }
  return f.length === t.length;
}

/**
 * Is every topic `inner` matches also matched by `outer`? This is what "a role covers a manifest
 * filter" means: `cmd/#` covers `cmd/+/set`, `cmd/+` does not cover `cmd/#`.
 */
export function filterCovers(outer: string, inner: string): boolean {
  const o = outer.split('/');
  const n = inner.split('/');
  // Wildcards at the first level never match $-topics, so they cannot cover a $ filter.
  if (n[0]!.startsWith('$') && (o[0] === '+' || o[0] === '#')) return false;
  for (let i = 0; ; i++) {
    if (i < o.length && o[i] === '#') return true;
    if (i >= n.length) return i >= o.length;
    if (i >= o.length) return false;
    const nl = n[i]!;
    const ol = o[i]!;
    if (nl === '#') return false; // outer has no # here, and inner's # reaches arbitrary depth
    if (nl === '+') {
      if (ol !== '+') return false;
      continue;
    }
    if (ol !== '+' && ol !== nl) return false;
  }
}
