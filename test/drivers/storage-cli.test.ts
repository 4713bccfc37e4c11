import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify as toYaml } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FileStore } from '../../drivers/storage/store.js';
import { cliProcess } from '../helpers/cli.js';

/**
 * `airssys storage ls|get` as an operator runs it (the real executable, a child process), on a data
 * directory the gateway's own FileStore wrote. With the gateway running it is exercised in
 * test/ota-e2e/ota-storage.test.ts. Each call starts the CLI from source (about 1 s idle, 10 s on
 * a loaded machine): hence the generous timeouts.
 */
const dir = mkdtempSync(join(tmpdir(), 'airssys-storage-cli-'));
const dataDir = join(dir, 'var');
const config = join(dir, 'gateway.yaml');
afterAll(() => rmSync(dir, { recursive: true, force: true }));

beforeAll(() => {
  // `meter` and `idle` are the config's (through policy); `meter` stored something, `idle` nothing.
  writeFileSync(config, toYaml({ gateway: { id: 'gw-cli', 'data-dir': './var' }, mqtt: { url: 'mqtt://127.0.0.1:1883' }, board: 'sim', policy: { roles: { r: {} }, components: { meter: ['r'], idle: ['r'] } }, components: [] }));
  const store = new FileStore({ dir: join(dataDir, 'storage'), flushMs: 60_000 });
  const b = store.bucket('meter');
  b.set('cal/dry', new Uint8Array(Buffer.from('512')));
  b.set('cal/wet', new Uint8Array(Buffer.from('230')));
  b.set('count', new Uint8Array([42, 0, 0, 0]));
  b.set('note', new Uint8Array(Buffer.from('line one\nline two')));
  b.set('odd key', new Uint8Array(Buffer.from('é ok')));
  store.close();
  mkdirSync(join(dataDir, 'storage'), { recursive: true });
  writeFileSync(join(dataDir, 'storage', 'broken.json'), '{"entries": {"k": 1');
}, 30_000);

const storage = (...args: string[]) => cliProcess(['storage', ...args]);
/** A refusal: non-zero, one line on stderr starting `error:`, nothing on stdout, no stack trace. */
function refusal(r: { code: number; stdout: string; stderr: string }, code: number, re: RegExp): void {
  expect(r.code, r.stderr).toBe(code);
  expect(r.stdout).toBe('');
  const lines = r.stderr.trimEnd().split('\n');
  expect(lines, r.stderr).toHaveLength(1);
  expect(lines[0]).toMatch(/^error: /);
  expect(lines[0]).toMatch(re);
}

describe('airssys storage', () => {
  it('--help: usage of both forms, the flags, an example; exit 0', async () => {
    const r = await storage('--help');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^Usage: airssys storage ls COMPONENT \[options\]\n {7}airssys storage get COMPONENT KEY \[options\]/);
    for (const flag of ['--config FILE', '--json', '--prefix P', '--at-swap', '--hex', '--base64']) expect(r.stdout).toContain(flag);
    expect(r.stdout).toMatch(/Examples?:\n {2}airssys storage /);
  }, 240_000);

  it('ls: one line per key (text quoted, bytes as hex), a summary on stderr; --prefix; --json', async () => {
    const r = await storage('ls', 'meter', '--config', config);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout.split('\n').filter(Boolean)).toEqual([
      'cal/dry     3 B  "512"',
      'cal/wet     3 B  "230"',
      'count       4 B  hex 2a000000',
      'note       17 B  "line one\\nline two"',
      '"odd key"   5 B  "é ok"',
    ]);
    expect(r.stderr).toMatch(/^5 key\(s\), \d+ bytes in .*var\/storage\/meter\.json, flushed \d{4}-\d\d-\d\dT/);

    const cal = await storage('ls', 'meter', '--config', config, '--prefix', 'cal/');
    expect(cal.stdout.split('\n').filter(Boolean).map((l) => l.split(/\s+/)[0])).toEqual(['cal/dry', 'cal/wet']);

    const json = await storage('ls', 'meter', '--config', config, '--json');
    expect(JSON.parse(json.stdout)).toEqual({
      component: 'meter',
      file: join(dataDir, 'storage', 'meter.json'),
      keys: [
        { key: 'cal/dry', bytes: 3, text: '512' },
        { key: 'cal/wet', bytes: 3, text: '230' },
        { key: 'count', bytes: 4, base64: Buffer.from([42, 0, 0, 0]).toString('base64') },
        { key: 'note', bytes: 17, text: 'line one\nline two' },
        { key: 'odd key', bytes: 5, text: 'é ok' },
      ],
    });
  }, 240_000);

  it('get: text as is, bytes as hex (said on stderr), --base64, --json; a configured component with nothing stored is empty, not an error', async () => {
    expect(await storage('get', 'meter', 'cal/dry', '--config', config)).toMatchObject({ code: 0, stdout: '512\n', stderr: '' });
    const bin = await storage('get', 'meter', 'count', '--config', config);
    expect(bin).toMatchObject({ code: 0, stdout: '2a000000\n' });
    expect(bin.stderr).toMatch(/4 bytes, not printable UTF-8: shown as hex/);
    expect((await storage('get', 'meter', 'count', '--data-dir', dataDir, '--base64')).stdout).toBe('KgAAAA==\n');
    expect(JSON.parse((await storage('get', 'meter', 'odd key', '--config', config, '--json')).stdout)).toEqual({ component: 'meter', key: 'odd key', bytes: 5, text: 'é ok' });
    const idle = await storage('ls', 'idle', '--config', config);
    expect(idle).toMatchObject({ code: 0, stdout: '' });
    expect(idle.stderr).toMatch(/^0 key\(s\), 0 bytes in .*idle\.json \(nothing stored yet\)/);
  }, 240_000);

  it('refusals are one line with the fix and a non-zero exit', async () => {
    refusal(await storage('get', 'meter', 'nope', '--config', config), 1, /meter has no key "nope" in .*meter\.json; it holds 5 key\(s\): see `airssys storage ls meter`/);
    refusal(await storage('ls', 'ghost', '--config', config), 2, /no component "ghost" here: not in the config and no bucket in .*; the config names meter, idle; check the name/);
    refusal(await storage('ls', 'meter', '--data-dir', join(dir, 'elsewhere')), 1, /data directory .*elsewhere \(--data-dir\) does not exist/);
    refusal(await storage('ls', 'broken', '--config', config), 1, /bucket file .*broken\.json is damaged/);
    refusal(await storage('ls', 'Bad/Name', '--config', config), 2, /is not a component name.*usage: airssys storage ls COMPONENT/);
    refusal(await storage('rm', 'meter', '--config', config), 2, /unknown sub-command "rm" \(ls or get\)/);
    refusal(await storage('get', 'meter', 'count', '--config', config, '--at-swap'), 1, /no copy of meter's bucket is kept aside .*drop --at-swap/);
    refusal(await storage('ls', 'meter', '--config', join(dir, 'missing.yaml')), 1, /config .*missing\.yaml: cannot read the file/);
    refusal(await storage('ls', 'meter', '--confg', config), 2, /unknown option --confg .*did you mean --config\?/);
  }, 400_000);
});
