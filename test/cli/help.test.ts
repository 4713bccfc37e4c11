import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { allSpecs, VERBS } from '../../gateway/cli/main.js';
import { normalizeBrokerUrl } from '../../gateway/cli/broker-flags.js';
import { parseVerbArgs } from '../../gateway/cli/spec.js';
import { cliReference } from '../../gateway/cli/reference.js';
import { WORLD_NAME } from '../../runtime/world.js';
import { cli, cliProcess } from '../helpers/cli.js';

const root = (p: string) => fileURLToPath(new URL(`../../${p}`, import.meta.url));
const specs = await allSpecs();

describe('--help on every verb', () => {
  it.each(VERBS.map(([name]) => name))('airssys %s --help: usage, every flag, an example; exit 0', async (verb) => {
    const spec = specs.find((s) => s.name === verb)!;
    const r = await cli([verb, '--help']);
    expect(r.code).toBe(0);
    expect(r.err).toEqual([]);
    expect(r.out[0]).toMatch(new RegExp(`^Usage: airssys ${verb}\\b`));
    const text = r.out.join('\n');
    for (const f of spec.flags) expect(text).toContain(`--${f.name}${f.arg ? ` ${f.arg}` : ''}`);
    expect(text).toContain('--help');
    expect(text).toMatch(/^Examples?:\n  airssys /m);
    expect(spec.examples.every((e) => e.startsWith(`airssys ${verb}`))).toBe(true);
    // -h and `airssys help VERB` say the same.
    expect((await cli([verb, '-h'])).out).toEqual(r.out);
    expect((await cli(['help', verb])).out).toEqual(r.out);
  });

  it.each(VERBS.map(([name]) => name))('airssys %s: every flag in its help is accepted, an unknown one is one line, exit 2', async (verb) => {
    const spec = specs.find((s) => s.name === verb)!;
    for (const f of spec.flags) {
      const parsed = parseVerbArgs(f.arg ? [`--${f.name}`, 'x'] : [`--${f.name}`], spec);
      expect(parsed.flags[f.name]).toEqual(f.arg ? (f.repeatable ? ['x'] : 'x') : true);
      if (f.short) expect(parseVerbArgs(f.arg ? [`-${f.short}`, 'x'] : [`-${f.short}`], spec).flags[f.name]).toBeDefined();
    }
    const r = await cli([verb, '--no-such-flag']);
    expect(r.code).toBe(2);
    expect(r.out).toEqual([]);
    expect(r.err).toEqual([`error: unknown option --no-such-flag for \`airssys ${verb}\`; run \`airssys ${verb} --help\` for its options`]);
  });

  it('a near miss names the flag that was meant', async () => {
    const r = await cli(['push', 'x.json', '--brokr', 'localhost', '--gateway', 'gw-1']);
    expect(r).toMatchObject({ code: 2, err: ['error: unknown option --brokr for `airssys push`; did you mean --broker? run `airssys push --help` for its options'] });
  });

  it('--help after -- is a positional, not a request for help', async () => {
    const r = await cli(['inspect', '--', '--help']);
    expect(r.code).toBe(2); // no such file: cannot be loaded
    expect(r.err).toHaveLength(1);
  });
});

describe('airssys with no verb, --help, an unknown verb', () => {
  it('--help lists every verb with its summary, exit 0', async () => {
    const r = await cli(['--help']);
    expect(r.code).toBe(0);
    expect(r.out[0]).toBe('Usage: airssys <verb> [options]');
    for (const s of specs) expect(r.out).toContain(`  ${s.name.padEnd(Math.max(...specs.map((x) => x.name.length)))}  ${s.summary}`);
    expect((await cli(['help'])).out).toEqual(r.out);
  });

  it('no verb: the same list on stderr, exit 2', async () => {
    const r = await cli([]);
    expect(r.code).toBe(2);
    expect(r.out).toEqual([]);
    expect(r.err[0]).toBe('Usage: airssys <verb> [options]');
  });

  it('an unknown verb: one line naming the fix, exit 2', async () => {
    expect(await cli(['pussh'])).toMatchObject({ code: 2, out: [], err: ['error: unknown verb "pussh"; did you mean `airssys push`? run `airssys --help` for the list'] });
    expect(await cli(['frobnicate'])).toMatchObject({ code: 2, err: ['error: unknown verb "frobnicate"; run `airssys --help` for the list'] });
    expect(await cli(['--verbose'])).toMatchObject({ code: 2, err: ['error: unknown option --verbose; run `airssys --help` for the list'] });
  });
});

describe('airssys --version', () => {
  it('prints the gateway, jco and world versions', async () => {
    const pkg = JSON.parse(readFileSync(root('package.json'), 'utf8')) as { version: string; dependencies: Record<string, string> };
    const jco = JSON.parse(readFileSync(root('node_modules/@bytecodealliance/jco/package.json'), 'utf8')) as { version: string };
    const r = await cli(['--version']);
    expect(r.code).toBe(0);
    expect(r.out[0]).toBe(`airssys-gateway ${pkg.version}`);
    expect(r.out[1]).toBe(`jco ${jco.version}`);
    expect(r.out[2]).toMatch(/^worlds /);
    expect(r.out[2]!.slice('worlds '.length).split(', ')).toContain(WORLD_NAME);
  });
});

describe('the real executable', () => {
  it('exit codes and streams as a shell sees them', async () => {
    const help = await cliProcess(['push', '--help']);
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(/^Usage: airssys push /);
    const version = await cliProcess(['--version']);
    expect(version).toMatchObject({ code: 0, stderr: '' });
    expect(version.stdout).toContain(WORLD_NAME);
    const bad = await cliProcess(['status', '--borker', 'x']);
    expect(bad.code).toBe(2);
    expect(bad.stderr.trim().split('\n')).toHaveLength(1);
    expect(bad.stderr).toMatch(/did you mean --broker\?/);
  });
});

describe('--broker without a scheme', () => {
  it('host, host:port and user@host mean mqtt://; a URL with a scheme is kept', () => {
    expect(normalizeBrokerUrl('localhost')).toBe('mqtt://localhost');
    expect(normalizeBrokerUrl('127.0.0.1:1883')).toBe('mqtt://127.0.0.1:1883');
    expect(normalizeBrokerUrl('u:p@broker.lan:1884')).toBe('mqtt://u:p@broker.lan:1884');
    expect(normalizeBrokerUrl('mqtts://broker.lan:8883')).toBe('mqtts://broker.lan:8883');
    expect(normalizeBrokerUrl('ws://broker.lan/mqtt')).toBe('ws://broker.lan/mqtt');
  });
});

describe('docs/cli.md', () => {
  it('is generated from the same specs (run `node scripts/cli-docs.mjs` after changing a verb)', async () => {
    expect(readFileSync(root('docs/cli.md'), 'utf8')).toBe(await cliReference());
  });
});
