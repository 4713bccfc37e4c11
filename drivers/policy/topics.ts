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

/**
 * A well-formed filter: `#` only as the whole last level, `+` only as a whole level, no NUL, at most
 * 65,535 bytes — the rule the bus applies when it subscribes (runtime/bus/topic.ts isValidFilter),
 * with the reason spelled out for config and manifest errors.
 */
export function filterProblem(filter: string): string | undefined {
  if (filter.length === 0) return 'filter is empty';
  if (filter.includes('\u0000')) return `filter ${JSON.stringify(filter)} contains a NUL character`;
  if (Buffer.byteLength(filter, 'utf8') > 65_535) return `filter is longer than 65,535 bytes`;
  const levels = filter.split('/');
  for (let i = 0; i < levels.length; i++) {
    const l = levels[i]!;
    if (l.includes('#') && (l !== '#' || i !== levels.length - 1)) return `filter ${JSON.stringify(filter)}: # must be the whole last level`;
    if (l.includes('+') && l !== '+') return `filter ${JSON.stringify(filter)}: + must be a whole level`;
  }
  return undefined;
}

// One MQTT matcher for the whole gateway (the bus, grants, policy, OTA, CLI): runtime/bus/topic.ts.
export { filterCovers, topicMatches } from '../../runtime/bus/topic.js';
