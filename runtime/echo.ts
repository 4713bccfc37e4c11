/**
 * Echoing user input back in errors and logs. A name, topic or key can be as long as the input
 * allows (a 64 KiB component name in a fuzzed config, a 64 KiB MQTT topic): repeating it whole makes
 * one refusal a 65 KB log line. Every echo goes through here, so every echo is bounded.
 */

/** How many characters of a user value are shown before it is cut with "…". */
export const ECHO_MAX = 64;

/** A user string as-is, cut to `max` characters plus "…" (for topics, paths, key names). */
export function clip(value: string, max = ECHO_MAX): string {
  if (value.length <= max) return value;
  // Do not split a surrogate pair: the cut would leave half an emoji and invalid UTF-16.
  let end = max;
  const c = value.charCodeAt(end - 1);
  if (c >= 0xd800 && c <= 0xdbff) end--;
  return `${value.slice(0, end)}…`;
}

/** Any user value quoted as JSON (strings in "…"), cut like `clip`: for "got X" in messages. */
export function echo(value: unknown, max = ECHO_MAX): string {
  if (typeof value === 'string') return JSON.stringify(clip(value, max));
  let s: string | undefined;
  try {
    s = JSON.stringify(value);
  } catch {
    s = undefined; // cycles, BigInt
  }
  return clip(s ?? String(value), max);
}
