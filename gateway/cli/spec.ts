import { GatewayError } from '../../runtime/errors.js';
import { parseArgs, type ParsedArgs } from './args.js';
import type { Verb } from './io.js';

/**
 * What a verb accepts, declared once next to its code. The `--help` text, the usage line in errors,
 * the unknown-flag error and docs/cli.md are all derived from it, so they cannot drift apart.
 */
export interface FlagSpec {
  /** Long name without dashes: `broker` for `--broker`. */
  name: string;
  /** Placeholder of the value (`URL`, `FILE`); absent for a boolean flag. */
  arg?: string;
  /** One-letter alias without the dash: `o` for `-o`. */
  short?: string;
  /** May be given more than once; the verb receives the list. */
  repeatable?: boolean;
  about: string;
}

export interface VerbSpec {
  /** As typed after `airssys`: `push`, `artifacts rm`. */
  name: string;
  /** One line for `airssys --help`. */
  summary: string;
  /** The synopsis after `airssys `, positionals and required flags first; `[options]` for the rest. */
  usage: string;
  /** Further synopses of the same verb (sub-commands such as `rollout status ID`). */
  forms?: string[];
  /** A few sentences: what it does, what it prints, when it exits. */
  about?: string;
  flags: FlagSpec[];
  /** At least one command line, as an operator would type it. */
  examples: string[];
  /** What the exit codes mean, e.g. `0 committed, 1 failed or timed out, 2 invalid input`. */
  exits?: string;
}

/** A verb module: `verbs/<name>.ts` exports both. */
export interface VerbModule {
  spec: VerbSpec;
  run: Verb;
}

/** Accepted by every verb and handled before the verb runs (main.ts). */
export const HELP_FLAG: FlagSpec = { name: 'help', short: 'h', about: 'show this help and exit' };

/** `airssys push FILE… [options]`: the line error messages quote. */
export const usageLine = (spec: VerbSpec): string => `airssys ${spec.usage}`;

/** True when `--help`/`-h` appears before any `--` (after it, everything is positional). */
export function wantsHelp(argv: string[]): boolean {
  for (const a of argv) {
    if (a === '--') return false;
    if (a === '--help' || a === '-h') return true;
  }
  return false;
}

/**
 * Parses a verb's arguments by its spec. An unknown flag is a usage error naming the closest
 * known flag and `--help`; main.ts turns usage errors into exit 2.
 */
export function parseVerbArgs(argv: string[], spec: VerbSpec): ParsedArgs {
  const aliases: Record<string, string> = {};
  for (const f of spec.flags) if (f.short) aliases[f.short] = f.name;
  try {
    return parseArgs(argv, {
      usage: usageLine(spec),
      values: spec.flags.filter((f) => f.arg !== undefined).map((f) => f.name),
      booleans: spec.flags.filter((f) => f.arg === undefined).map((f) => f.name),
      repeatable: spec.flags.filter((f) => f.repeatable).map((f) => f.name),
      aliases,
    });
  } catch (err) {
    const m = err instanceof GatewayError ? /^unknown option (\S+);/.exec(err.message) : null;
    if (!m) throw err;
    const given = m[1]!;
    const near = closestName(given.replace(/^--?/, '').replace(/=.*$/, ''), spec.flags.map((f) => f.name));
    const hint = near ? `did you mean --${near}? ` : '';
    throw new GatewayError('USAGE', `unknown option ${given} for \`airssys ${spec.name}\`; ${hint}run \`airssys ${spec.name} --help\` for its options`);
  }
}

/** Usage error for wrong positionals or missing flags, with the synopsis and the way to more help. */
export function usageError(spec: VerbSpec, problem: string): GatewayError {
  return new GatewayError('USAGE', `${problem}; usage: ${usageLine(spec)} (see \`airssys ${spec.name} --help\`)`);
}

/** The known name a typo most likely meant (a prefix, or a few letters off), if any. */
export function closestName(given: string, names: string[]): string | undefined {
  let best: { name: string; d: number } | undefined;
  for (const name of names) {
    const d = name.startsWith(given) && given.length >= 2 ? 0 : editDistance(given, name);
    if (!best || d < best.d) best = { name, d };
  }
  return best && best.d <= Math.max(1, Math.floor(given.length / 3)) ? best.name : undefined;
}

function editDistance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    let prev = row[0]!;
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const cur = row[j]!;
      row[j] = Math.min(row[j]! + 1, row[j - 1]! + 1, prev + (a[i - 1] === b[j - 1] ? 0 : 1));
      prev = cur;
    }
  }
  return row[b.length]!;
}

function flagLabel(f: FlagSpec): string {
  const long = `--${f.name}${f.arg ? ` ${f.arg}` : ''}`;
  return `${f.short ? `-${f.short}, ` : '    '}${long}`;
}

/** The `--help` text: starts with `Usage:`, lists every flag (and --help), one example at least. */
export function helpText(spec: VerbSpec): string[] {
  const flags = [...spec.flags, HELP_FLAG];
  const width = Math.min(30, Math.max(...flags.map((f) => flagLabel(f).length)));
  const lines = [`Usage: ${usageLine(spec)}`, ...(spec.forms ?? []).map((f) => `       airssys ${f}`), '', spec.summary.replace(/^./, (c) => c.toUpperCase()) + '.'];
  if (spec.about) lines.push('', ...wrap(spec.about, 100));
  lines.push('', 'Options:');
  for (const f of flags) {
    const label = flagLabel(f);
    const about = f.about + (f.repeatable ? ' (repeatable)' : '');
    lines.push(label.length > width ? `  ${label}\n  ${' '.repeat(width)}  ${about}` : `  ${label.padEnd(width)}  ${about}`);
  }
  lines.push('', spec.examples.length > 1 ? 'Examples:' : 'Example:', ...spec.examples.map((e) => `  ${e}`));
  if (spec.exits) lines.push('', `Exit status: ${spec.exits}.`);
  return lines.flatMap((l) => l.split('\n'));
}

function wrap(text: string, width: number): string[] {
  const out: string[] = [];
  let line = '';
  for (const word of text.split(/\s+/).filter(Boolean)) {
    if (line && line.length + 1 + word.length > width) {
      out.push(line);
      line = word;
    } else line = line ? `${line} ${word}` : word;
  }
  if (line) out.push(line);
  return out;
}

/** docs/cli.md: the same specs as Markdown (scripts/cli-docs.mjs writes it; a test keeps it current). */
export function markdownReference(specs: VerbSpec[], intro: string[]): string {
  const md: string[] = ['<!-- Generated from the verbs\' specs by `node scripts/cli-docs.mjs`; edit gateway/cli/verbs/*.ts, not this file. -->', '', '# Command line reference (`airssys`)', '', ...intro, ''];
  md.push('| verb | does |', '|---|---|');
  for (const s of specs) md.push(`| [\`${s.name}\`](#airssys-${s.name.replace(/\s+/g, '-')}) | ${s.summary} |`);
  for (const s of specs) {
    md.push('', `## airssys ${s.name}`, '', '```', usageLine(s), ...(s.forms ?? []).map((f) => `airssys ${f}`), '```', '', s.summary.replace(/^./, (c) => c.toUpperCase()) + '.');
    if (s.about) md.push('', s.about);
    md.push('', '| option | meaning |', '|---|---|');
    for (const f of [...s.flags, HELP_FLAG]) {
      const label = `${f.short ? `\`-${f.short}\`, ` : ''}\`--${f.name}${f.arg ? ` ${f.arg}` : ''}\``;
      md.push(`| ${label} | ${f.about.replace(/\|/g, '\\|')}${f.repeatable ? ' (repeatable)' : ''} |`);
    }
    md.push('', s.examples.length > 1 ? 'Examples:' : 'Example:', '', '```sh', ...s.examples, '```');
    if (s.exits) md.push('', `Exit status: ${s.exits}.`);
  }
  return md.join('\n') + '\n';
}
