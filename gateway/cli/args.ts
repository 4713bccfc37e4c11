import { GatewayError } from '../../runtime/errors.js';

/**
 * A small, strict argument parser: `--flag value`, `--flag=value`, boolean `--flag`, `-o value`,
 * and positionals. Unknown flags are an error naming the verb's usage, never silently ignored.
 */
export interface ArgSpec {
  usage: string;
  /** Flags that take a value, without dashes; short aliases map to their long name. */
  values?: string[];
  booleans?: string[];
  aliases?: Record<string, string>;
  /** Flags that may repeat (their value is the list of all given). */
  repeatable?: string[];
}

export interface ParsedArgs {
  positionals: string[];
  flags: Record<string, string | boolean | string[]>;
}

export function parseArgs(argv: string[], spec: ArgSpec): ParsedArgs {
  const values = new Set(spec.values ?? []);
  const booleans = new Set(spec.booleans ?? []);
  const repeatable = new Set(spec.repeatable ?? []);
  const out: ParsedArgs = { positionals: [], flags: {} };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--') {
      out.positionals.push(...argv.slice(i + 1));
      break;
    }
    if (!arg.startsWith('-') || arg === '-') {
      out.positionals.push(arg);
      continue;
    }
    let name = arg.replace(/^--?/, '');
    let inline: string | undefined;
    const eq = name.indexOf('=');
    if (eq >= 0) {
      inline = name.slice(eq + 1);
      name = name.slice(0, eq);
    }
    name = spec.aliases?.[name] ?? name;
    if (booleans.has(name)) {
      out.flags[name] = true;
    } else if (values.has(name)) {
      const value = inline ?? argv[++i];
      if (value === undefined) throw new GatewayError('USAGE', `--${name} needs a value; usage: ${spec.usage}`);
      if (repeatable.has(name)) {
        const prev = out.flags[name];
        out.flags[name] = [...(Array.isArray(prev) ? prev : []), value];
      } else {
        out.flags[name] = value;
      }
    } else {
      throw new GatewayError('USAGE', `unknown option ${arg}; usage: ${spec.usage}`);
    }
  }
  return out;
}

export function flagString(args: ParsedArgs, name: string): string | undefined {
  const v = args.flags[name];
  return typeof v === 'string' ? v : undefined;
}

export function requireFlag(args: ParsedArgs, name: string, usage: string): string {
  const v = flagString(args, name);
  if (v === undefined) throw new GatewayError('USAGE', `missing --${name}; usage: ${usage}`);
  return v;
}

export function flagInt(args: ParsedArgs, name: string, usage: string): number | undefined {
  const v = flagString(args, name);
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0) throw new GatewayError('USAGE', `--${name} must be a whole number, got ${JSON.stringify(v)}; usage: ${usage}`);
  return n;
}
