import { bytes, integer, mapping, type Problems } from '../config/check.js';

/**
 * `commands:` in the gateway config: what the gateway accepts on `<prefix>/gw/<id>/cmd/<name>/…`
 * before anything reaches a component's mailbox.
 */
export interface CommandsConfig {
  /** Larger payloads are refused (default 64 KiB). */
  maxBytes: number;
  /** Per component: commands per second sustained… */
  ratePerS: number;
  /** …and at once. */
  burst: number;
}

export const COMMAND_DEFAULTS: CommandsConfig = { maxBytes: 64 * 1024, ratePerS: 50, burst: 100 };

export function parseCommands(p: Problems, v: unknown): CommandsConfig {
  const c = mapping(p, v, 'commands', ['max-bytes', 'rate-per-s', 'burst'], 'write e.g. { max-bytes: 64KiB, rate-per-s: 50, burst: 100 }') ?? {};
  return {
    maxBytes: bytes(p, c['max-bytes'], 'commands.max-bytes', COMMAND_DEFAULTS.maxBytes, 1),
    ratePerS: integer(p, c['rate-per-s'], 'commands.rate-per-s', COMMAND_DEFAULTS.ratePerS, 1, 1_000_000),
    burst: integer(p, c.burst, 'commands.burst', COMMAND_DEFAULTS.burst, 1, 1_000_000),
  };
}
