import { describe, expect, it } from 'vitest';
import { mkdtempSync, readFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { run } from '../../gateway/cli/verbs/new.js';
import { TESTING_SPECIFIER, testingHelper } from '../../gateway/cli/verbs/test.js';
import { loadComponent } from '../../sdk/testing.js';
import { GatewayError } from '../../runtime/errors.js';

function io() {
  const out: string[] = [];
  const err: string[] = [];
  return { out, err, io: { out: (l: string) => void out.push(l), err: (l: string) => void err.push(l) } };
}

describe('airssys new', () => {
  it('scaffolds a project whose component builds, runs and does what its test says', async () => {
    const root = mkdtempSync(path.join(tmpdir(), 'airssys-new-'));
    const dir = path.join(root, 'door-bell');
    const { out, io: cli } = io();
    expect(await run(['door-bell', '--dir', dir], cli)).toBe(0);
    expect(out[0]).toMatch(/created .*door-bell\/ with door-bell\.ts, door-bell\.yaml, door-bell\.test\.ts, README\.md/);
    for (const f of ['door-bell.ts', 'door-bell.yaml', 'door-bell.test.ts', 'README.md']) expect(existsSync(path.join(dir, f))).toBe(true);
    // The generated test imports the helper by name (the folder may move); `airssys test` maps the
    // name to this install's helper, which exists (docs/tutorial.md runs it end to end).
    const testText = readFileSync(path.join(dir, 'door-bell.test.ts'), 'utf8');
    expect(testText).toContain(`from '${TESTING_SPECIFIER}'`);
    expect(existsSync(testingHelper())).toBe(true);
    // Same steps as the generated test.
    const c = await loadComponent(path.join(dir, 'door-bell.ts'), { manifest: path.join(dir, 'door-bell.yaml') });
    expect(c.init()).toMatchObject({ ok: true });
    c.tick();
    expect(c.last('level')).toBe(0);
    c.pulse(17, { highMs: 100, lowMs: 100, count: 3 });
    expect(c.last('presses')).toBe(3);
    expect(c.errors()).toEqual([]);
  }, 300_000); // compiles AssemblyScript: minutes when the machine is busy

  it('refuses bad names and existing files with one clear line', async () => {
    const root = mkdtempSync(path.join(tmpdir(), 'airssys-new-'));
    await expect(run(['Bad_Name', '--dir', root], io().io)).rejects.toThrow(/component name "Bad_Name" is not valid/);
    await expect(run([], io().io)).rejects.toBeInstanceOf(GatewayError);
    expect(await run(['x', '--dir', root], io().io)).toBe(0);
    await expect(run(['x', '--dir', root], io().io)).rejects.toThrow(/x\.ts already exists/);
  });
});
