import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { BIN } from '../helpers/cli.js';

/**
 * `airssys test`: a component project's tests run with the gateway's vitest from a folder that has
 * no package.json, `@airssys/testing` resolving to the SDK helper; vitest's exit status comes back.
 * (docs/tutorial.md runs it on a real component; these files load none, to stay quick.)
 */
const dir = mkdtempSync(join(tmpdir(), 'airssys-test-verb-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function airssysTest(args: string[]) {
  const env = { ...process.env, AIRSSYS_FROM_SOURCE: '1', NO_COLOR: '1' };
  for (const k of ['VITEST', 'VITEST_WORKER_ID', 'VITEST_POOL_ID', 'NODE_OPTIONS']) delete env[k];
  return spawnSync(process.execPath, [BIN, 'test', ...args], { cwd: dir, env, encoding: 'utf8', timeout: 240_000 });
}

describe('airssys test', () => {
  it('runs a project folder\'s tests with @airssys/testing resolved, exit 0 when they pass', () => {
    writeFileSync(join(dir, 'ok.test.ts'), `import { expect, it } from 'vitest';
import { loadComponent } from '@airssys/testing';
it('sees the helper', () => { expect(typeof loadComponent).toBe('function'); });
`);
    const r = airssysTest(['ok.test.ts']);
    expect(r.status, r.stdout + r.stderr).toBe(0);
    expect(r.stdout).toMatch(/1 passed/);
  }, 250_000);

  it('exits non-zero when a test fails, and refuses a missing file in one line', () => {
    writeFileSync(join(dir, 'bad.test.ts'), `import { expect, it } from 'vitest';\nit('fails', () => { expect(1).toBe(2); });\n`);
    const r = airssysTest(['bad.test.ts']);
    expect(r.status).not.toBe(0);
    expect(r.stdout).toMatch(/1 failed/);
    const missing = airssysTest(['nope.test.ts']);
    expect(missing.status).toBe(2);
    expect(missing.stderr.trim().split('\n')).toHaveLength(1);
    expect(missing.stderr).toMatch(/^error: nope\.test\.ts not found; give the path of a test file from this folder; usage: airssys test /);
  }, 250_000);
});
