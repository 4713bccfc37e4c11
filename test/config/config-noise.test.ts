import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildWat } from '../../runtime/build/wat.js';
import { cliProcess } from '../helpers/cli.js';
import { sensorWat } from '../helpers/sensor-wat.js';

/**
 * Issue "Hardening" 5, through the real `airssys` executable: configs and manifests that made the
 * yaml library print its own warnings (`(node:PID) Warning: …`, `YAMLWarning`) and refusals that
 * repeated a 64 KiB name back. Every case ends in our one-line errors, bounded in length.
 */
const LONG = 'a'.repeat(65536);
let dir: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'airssys-noise-'));
  await writeFile(join(dir, 'c.wasm'), await buildWat(sensorWat({})));
});
afterAll(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

const CONFIGS: Array<[string, string, RegExp]> = [
  ['a list used as a key', 'gateway: { id: gw-1 }\n? [a, b]\n: 1\n', /a list or mapping is used as a key/],
  ['a mapping used as a key inside policy', 'policy:\n  roles:\n    ? { x: 1 }\n    : {}\n', /a list or mapping is used as a key/],
  ['an unresolved tag', 'gateway: { id: !foo gw-1 }\n', /Unresolved tag: !foo/],
  ['an alias bomb', 'a: &a [x,x,x,x,x,x,x,x,x,x]\nb: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a,*a]\nc: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b,*b]\nd: [*c,*c,*c,*c,*c,*c,*c,*c,*c,*c]\n', /alias/i],
  ['a 64 KiB component name in policy', `policy:\n  components: { ${LONG}: [x] }\n`, /is not a valid component name/],
  ['a 64 KiB unknown key', `gateway: { ${LONG}: 1 }\n`, /unknown key/],
  ['a 64 KiB gateway id', `gateway: { id: ${LONG} }\n`, /is not a valid gateway id/],
  ['a 64 KiB role name', `policy:\n  roles: { ${LONG}: { zzz: 1 } }\n`, /unknown key/],
  ['a 64 KiB inline manifest name', `components:\n  - { source: c.wasm, manifest: { name: ${LONG}, version: 1.0.0 } }\n`, /is not a valid component name/],
  ['a 64 KiB manifest key', `components:\n  - { source: c.wasm, manifest: { name: x, version: 1.0.0, ${LONG}: 1 } }\n`, /unknown key/],
  ['a 64 KiB telemetry channel', `components:\n  - { source: c.wasm, manifest: { name: x, version: 1.0.0, capabilities: { telemetry: [${LONG}] } } }\n`, /is not a valid name/],
];

describe('config noise', () => {
  it.each(CONFIGS)('%s: our one-line error, no library warning, no 64 KiB echo', async (_name, yaml, expected) => {
    const file = join(dir, `${Math.random().toString(16).slice(2)}.yaml`);
    await writeFile(file, `mqtt: { url: embedded, embedded-port: 0 }\n${yaml}`);
    const r = await cliProcess(['start', '--config', file]);
    expect(r.code).not.toBe(0);
    expect(r.stderr).not.toMatch(/\(node:\d+\)|YAMLWarning|Warning:/);
    expect(r.stderr).toMatch(expected);
    for (const line of r.stderr.trim().split('\n')) expect(line.length).toBeLessThan(400);
    expect(r.stdout).toBe('');
  }, 60_000);

  it('a manifest file with a list as a key or a tag: one line from `airssys run`, no library warning', async () => {
    for (const body of ['name: x\nversion: 1.0.0\n? [a]\n: 1\n', 'name: !bar x\nversion: 1.0.0\n']) {
      const m = join(dir, `${Math.random().toString(16).slice(2)}.yaml`);
      await writeFile(m, body);
      const r = await cliProcess(['run', join(dir, 'c.wasm'), '--manifest', m, '--ticks', '1']);
      expect(r.code).not.toBe(0);
      expect(r.stderr).not.toMatch(/\(node:\d+\)|YAMLWarning|Warning:/);
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
      expect(r.stderr).toMatch(/a list or mapping is used as a key|Unresolved tag/);
    }
  }, 60_000);
});
