import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { freePort, until } from '../helpers/mosquitto.js';

/**
 * docs/tutorial.md, run as a new user would: every ```sh block in order, in a fresh folder with
 * HOME there and this checkout's bin/airssys.mjs on PATH as `airssys`. HTML comments before a block
 * (invisible on the rendered page) tell this test what the prose tells the reader:
 *   <!-- tutorial: skip (why) -->            not run (a prerequisite the test provides itself)
 *   <!-- tutorial: file PATH -->             the block is the content of PATH ("Replace PATH with:")
 *   <!-- tutorial: background until="T" -->  started and left running ("in a second terminal") until T is printed
 *   <!-- tutorial: expect="T" -->            the block's output must contain T
 * Each sh block runs with `bash -e -o pipefail` and must exit 0. The only change to the text: the
 * gateway's port 1884 becomes a free port, so a gateway already on this machine does not interfere.
 */
const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const TUTORIAL = join(ROOT, 'docs', 'tutorial.md');

export interface Step {
  lang: string;
  code: string;
  line: number;
  skip?: string;
  file?: string;
  background?: string;
  expect: string[];
}

/** The fenced blocks of the page with the directives just above them. */
export function steps(markdown: string): Step[] {
  const out: Step[] = [];
  const lines = markdown.split('\n');
  let pending: Omit<Step, 'lang' | 'code' | 'line'> = { expect: [] };
  for (let i = 0; i < lines.length; i++) {
    const l = lines[i]!;
    const d = /^<!--\s*tutorial:\s*(.*?)\s*-->$/.exec(l.trim());
    if (d) {
      const body = d[1]!;
      if (/^skip\b/.test(body)) pending.skip = body.slice(4).trim() || 'skipped';
      else if (/^file\s+\S+$/.test(body)) pending.file = body.split(/\s+/)[1];
      else if (/^background\s+until="(.*)"$/.test(body)) pending.background = /until="(.*)"$/.exec(body)![1];
      else if (/^expect="(.*)"$/.test(body)) pending.expect.push(JSON.parse(`"${/^expect="(.*)"$/.exec(body)![1]}"`));
      else throw new Error(`docs/tutorial.md:${i + 1}: unknown tutorial directive ${JSON.stringify(body)}`);
      continue;
    }
    const f = /^```(\w*)\s*$/.exec(l);
    if (!f) {
      if (l.trim() !== '' && (pending.skip || pending.file || pending.background || pending.expect.length)) throw new Error(`docs/tutorial.md:${i + 1}: a tutorial directive must be followed by a code block`);
      continue;
    }
    const start = i + 1;
    let end = start;
    while (end < lines.length && !/^```\s*$/.test(lines[end]!)) end++;
    out.push({ lang: f[1]!, code: lines.slice(start, end).join('\n') + '\n', line: start, ...pending });
    pending = { expect: [] };
    i = end;
  }
  return out;
}

const background: ChildProcess[] = [];
let work: string | undefined;

afterAll(async () => {
  for (const c of background) {
    if (c.exitCode !== null || c.signalCode !== null) continue;
    const exited = new Promise((r) => c.once('exit', r));
    process.kill(-c.pid!, 'SIGTERM');
    await Promise.race([exited, new Promise((r) => setTimeout(r, 15_000))]);
    if (c.exitCode === null && c.signalCode === null) process.kill(-c.pid!, 'SIGKILL');
  }
  if (work) rmSync(work, { recursive: true, force: true });
});

describe('docs/tutorial.md', () => {
  it('has directives the runner understands and a block for each step', () => {
    const all = steps(readFileSync(TUTORIAL, 'utf8'));
    expect(all.filter((s) => s.lang === 'sh' && !s.skip).length).toBeGreaterThanOrEqual(8);
    expect(all.filter((s) => s.file).map((s) => s.file)).toEqual(['door-bell/door-bell.ts', 'door-bell/door-bell.yaml', 'door-bell/door-bell.test.ts', 'gateway.yaml']);
    // Every sh block not run is explained; every block the test does not use is shown only.
    for (const s of all.filter((s) => s.skip)) expect(s.skip).toMatch(/\w{3,}/);
  });

  it('runs as written, start to finish, in an empty folder', async () => {
    work = mkdtempSync(join(tmpdir(), 'airssys-tutorial-'));
    const home = join(work, 'home');
    const bin = join(work, 'bin');
    mkdirSync(home);
    mkdirSync(bin);
    symlinkSync(join(ROOT, 'bin', 'airssys.mjs'), join(bin, 'airssys'));
    const port = String(await freePort());
    const env = { ...process.env, HOME: home, PATH: `${bin}:${process.env.PATH}`, NO_COLOR: '1', FORCE_COLOR: '0', AIRSSYS_FROM_SOURCE: '1' };
    delete (env as Record<string, string | undefined>).VITEST;
    delete (env as Record<string, string | undefined>).VITEST_WORKER_ID;
    delete (env as Record<string, string | undefined>).VITEST_POOL_ID;
    delete (env as Record<string, string | undefined>).NODE_OPTIONS;
    const local = (text: string) => text.replaceAll('1884', port);
    let cwd = home;
    const cwdFile = join(work, 'cwd');
    const log: string[] = [];

    for (const step of steps(readFileSync(TUTORIAL, 'utf8'))) {
      const where = `docs/tutorial.md:${step.line}`;
      const t0 = Date.now();
      if (step.skip) continue;
      if (step.file) {
        const target = resolve(cwd, step.file);
        mkdirSync(dirname(target), { recursive: true });
        writeFileSync(target, local(step.code));
        log.push(`${where}: wrote ${step.file}`);
        continue;
      }
      if (step.lang !== 'sh') continue;
      const script = local(step.code);
      if (step.background) {
        const child = spawn('bash', ['-e', '-o', 'pipefail', '-c', script], { cwd, env, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
        background.push(child);
        let out = '';
        child.stdout!.on('data', (d) => (out += d));
        child.stderr!.on('data', (d) => (out += d));
        await until(() => out.includes(step.background!) || child.exitCode !== null, 120_000, `${where}: "${step.background}" from \`${script.trim()}\`; output: ${out.slice(-3000)}`);
        expect(child.exitCode, `${where}: \`${script.trim()}\` exited early: ${out.slice(-3000)}`).toBeNull();
        log.push(`${where}: started in the background (${Date.now() - t0} ms)`);
        continue;
      }
      const r = spawnSync('bash', ['-e', '-o', 'pipefail', '-c', `${script}\npwd > ${JSON.stringify(cwdFile)}\n`], { cwd, env, encoding: 'utf8', timeout: 240_000 });
      const out = `${r.stdout}${r.stderr}`;
      expect(r.status, `${where}: \`${script.trim()}\` exited ${r.status ?? r.signal}; output:\n${out.slice(-4000)}\nsteps so far:\n${log.join('\n')}`).toBe(0);
      for (const text of step.expect) expect(out, `${where}: output should contain ${JSON.stringify(text)}`).toContain(text);
      cwd = readFileSync(cwdFile, 'utf8').trim();
      log.push(`${where}: ok (${Date.now() - t0} ms)`);
    }
    // Where the time goes (the tutorial should stay quick to try).
    console.log(log.join('\n'));
    expect(log.filter((l) => l.includes('in the background')).length).toBe(1);
  }, 600_000);
});
