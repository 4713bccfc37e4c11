import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { describe, expect, it } from 'vitest';
import { buildWat } from '../../runtime/build/wat.js';
import { Engine } from '../../runtime/engine.js';
import { importGlue, type GlueModule } from '../../runtime/glue-module.js';
import { sensorWat } from '../helpers/sensor-wat.js';

/**
 * Glue is loaded so that it can be freed: every release whose glue text differs used to be imported
 * from its own data: URL, a module record Node keeps for the life of the process (docs/hardening.md).
 * Counts, not timings: after N distinct glue texts are dropped, none may still be reachable.
 */
setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

async function realGlue(): Promise<string> {
  const engine = new Engine({ cacheDir: join(await mkdtemp(join(tmpdir(), 'airssys-glue-')), 'cache') });
  return (await engine.prepare(await buildWat(sensorWat()), { memoryMb: 16 })).workerSource().glue;
}

describe('importGlue', () => {
  it('distinct glue texts of a real component are freed once dropped', async () => {
    const glue = await realGlue();
    const loaded: Array<WeakRef<GlueModule>> = [];
    // What a new release with other glue looks like to the loader: a text it has not seen. Loaded
    // in a function of its own, so no local of this test still holds the last one.
    const load = async (i: number) => {
      const g = await importGlue(`${glue}\n// release ${i}\n`);
      loaded.push(new WeakRef(g));
      return typeof g.instantiate;
    };
    for (let i = 0; i < 20; i++) expect(await load(i)).toBe('function');
    await new Promise((r) => setImmediate(r));
    gc();
    await new Promise((r) => setImmediate(r));
    gc();
    expect(loaded.filter((r) => r.deref() !== undefined)).toHaveLength(0);
  });

  it('keeps module semantics: strict mode, no module-level `this`', async () => {
    const g = await importGlue('export function instantiate() {\n  return { strict: () => (function () { return this; })() === undefined, self: () => topThis === undefined };\n}\nconst topThis = this;\n');
    const exports = g.instantiate(() => undefined as never, {}, () => undefined as never);
    expect(exports.strict!()).toBe(true);
    expect(exports.self!()).toBe(true);
  });

  it('glue of another shape (more exports, imports) is still imported as a module', async () => {
    const g = (await importGlue('export const other = 1;\nexport function instantiate() { return { x: () => 2 }; }\n')) as GlueModule & { other?: number };
    expect(g.other).toBe(1);
    expect(g.instantiate(() => undefined as never, {}, () => undefined as never).x!()).toBe(2);
  });
});
