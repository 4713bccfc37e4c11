import { describe, expect, it } from 'vitest';
import { loadJco } from '../../runtime/jco.js';
import { buildWat, watToCore } from '../../runtime/build/wat.js';
import { coreSignature, HOST_FUNCTIONS, importName, INTERFACES, jcoFile, OP_CLASSES, WORLDS } from '../../runtime/interfaces/index.js';
import { Linker } from '../../runtime/linker.js';
import { hostCallBase, HOST_CALL_BASE_FUEL, HOST_CALL_SINK_FUEL } from '../../runtime/metering/index.js';
import { declLines, expectedInterfaceDecls, expectedTypesDecl } from '../../runtime/world-check.js';
import { readCoreModule } from '../../sdk/wasm-core.js';
import { CORE_IMPORTS } from '../../sdk/core-check.js';
import { sensorWat } from '../helpers/sensor-wat.js';
import { sensorWatV2 } from '../helpers/sensor-wat-v2.js';
import { RecordingHost } from '../helpers/recording-host.js';

/**
 * The interface descriptors (runtime/interfaces/) are the single declaration of each host
 * interface; these tests hold what is derived from them against what the toolchain itself says.
 */
describe('host interface descriptors', () => {
  for (const [version, wat] of [
    ['0.1.0', () => sensorWat()],
    ['0.2.0', () => sensorWatV2({ v2: ['i2c', 'spi', 'storage'] })],
  ] as const) {
    it(`derive the exact declarations jco generates for a component importing every ${version} interface`, async () => {
      const world = WORLDS.find((w) => w.version === version)!;
      const bytes = await buildWat(wat());
      const { files } = await (await loadJco()).transpile(bytes);
      const expected = expectedInterfaceDecls(world);
      const seen: string[] = [];
      for (const [name, content] of Object.entries(files)) {
        const m = /^interfaces\/(.+)\.d\.ts$/.exec(name);
        if (!m) continue;
        seen.push(m[1]!);
        const lines = declLines(Buffer.from(content).toString('utf8')).filter((l) => !l.startsWith('import '));
        if (m[1] === 'airssys-gateway-types') {
          expect(lines).toEqual(expectedTypesDecl(world));
          continue;
        }
        const exp = expected[m[1]!]!;
        expect(exp, m[1]).toBeDefined();
        expect(lines.filter((l) => l.startsWith('export function') || l.startsWith('declare function'))).toEqual(exp.functions);
        for (const a of exp.always) expect(lines).toContain(a);
      }
      const covered = world.interfaces.map((i) => jcoFile(i.name));
      expect(seen.sort()).toEqual(['airssys-gateway-types', ...covered].sort());
      // The gateway's own check accepts it, as the world its imports name.
      const { analyzeComponent } = await import('../../runtime/analyze.js');
      const analysis = await analyzeComponent(bytes);
      expect(analysis.problem).toBeUndefined();
      expect(analysis.world).toBe(`airssys:gateway/sensor@${version}`);
    });
  }

  it('derive the core signatures wit-component lowers each import to', async () => {
    // The WAT helpers declare each import with its core type, written by hand from the canonical ABI.
    const core = readCoreModule(await watToCore(sensorWat()));
    const v2 = readCoreModule(await watToCore(sensorWatV2({ v2: ['i2c', 'spi', 'storage'] })));
    expect(v2.imports.length).toBe(HOST_FUNCTIONS.length);
    for (const imp of [...core.imports, ...v2.imports]) {
      const e = HOST_FUNCTIONS.find((h) => (importName(h.iface.name, '0.1.0') === imp.module || importName(h.iface.name, '0.2.0') === imp.module) && h.fn.wit === imp.name);
      expect(e, `${imp.module}#${imp.name}`).toBeDefined();
      expect(coreSignature(e!.fn)).toEqual(imp.type);
    }
    expect(Object.keys(CORE_IMPORTS).sort()).toEqual(WORLDS[0]!.interfaces.map((i) => importName(i.name, '0.1.0')).sort());
  });

  it('give every host function a unique method and op code, and the linker binds each', () => {
    const methods = HOST_FUNCTIONS.map((e) => e.fn.method);
    expect(new Set(methods).size).toBe(methods.length);
    expect(HOST_FUNCTIONS.map((e) => e.op)).toEqual(HOST_FUNCTIONS.map((_, i) => i + 1));
    const imports = new Linker().bind(new RecordingHost());
    for (const w of WORLDS) {
      for (const i of w.interfaces) {
        for (const f of i.functions) {
          expect(typeof imports[importName(i.name, w.version)]![f.wit.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase())]).toBe('function');
        }
      }
    }
    expect(OP_CLASSES.slice(0, 5)).toEqual(['gpio', 'serial', 'telemetry', 'messaging', 'log']);
    expect(hostCallBase('airssys:gateway/host@0.1.0', 'log')).toBe(HOST_CALL_SINK_FUEL);
    expect(hostCallBase('airssys:gateway/host@0.1.0', 'nowMs')).toBe(HOST_CALL_BASE_FUEL);
    expect(hostCallBase('airssys:gateway/serial', 'write')).toBe(HOST_CALL_SINK_FUEL);
    expect(hostCallBase('airssys:gateway/gpio@0.1.0', 'read')).toBe(HOST_CALL_BASE_FUEL);
  });
});

describe('world versions', () => {
  it('a component mixing 0.1.0 and 0.2.0 imports is refused as incompatible-world', async () => {
    const mixed = sensorWatV2({ v2: ['storage'] }).replace('"airssys:gateway/gpio@0.2.0"', '"airssys:gateway/gpio@0.1.0"').replaceAll('"airssys:gateway/gpio@0.2.0"', '"airssys:gateway/gpio@0.1.0"');
    // wit-component cannot even build such a module against one world: the build names the problem.
    const err = await buildWat(mixed).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(Error);
    const { worldOf } = await import('../../runtime/world-check.js');
    expect(() => worldOf({ imports: ['airssys:gateway/gpio@0.1.0', 'airssys:gateway/storage@0.2.0'], exports: [] })).toThrow(/mixes world versions \(0.1.0, 0.2.0\)/);
    expect(() => worldOf({ imports: ['airssys:gateway/gpio@0.3.0'], exports: [] })).toThrow(/does not load/);
  });
});

describe('interface drivers', () => {
  it('implement every host function of every descriptor, one driver per interface in the same order', async () => {
    const { DRIVERS } = await import('../../drivers/interfaces/index.js');
    expect(DRIVERS.map((d) => d.descriptor)).toEqual([...INTERFACES]);
    const { createHostApi } = await import('../../drivers/pipeline/host-calls.js');
    const { createSimBoard } = await import('../../drivers/sim-board.js');
    const { compileGrant } = await import('../../drivers/policy/grant.js');
    const { parseManifest } = await import('../../runtime/manifest.js');
    const api = createHostApi({
      component: { name: 'c', version: '1.0.0' },
      grant: compileGrant(parseManifest({ name: 'c', version: '1.0.0' })),
      board: createSimBoard(),
      sinks: { telemetry: () => undefined, message: () => undefined, log: () => undefined },
    }) as unknown as Record<string, unknown>;
    for (const e of HOST_FUNCTIONS) expect(typeof api[e.fn.method], e.label).toBe('function');
    expect(Object.keys(api).length).toBe(HOST_FUNCTIONS.length);
  });
});
