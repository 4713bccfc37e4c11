import { describe, expect, it } from 'vitest';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildAssemblyScript, compileAssemblyScript, voidHandlers, misspeltHandlers } from '../../sdk/build.js';
import { coreModuleProblems } from '../../sdk/core-check.js';
import { componentProblems } from '../../sdk/component-check.js';
import { readCoreModule, renameExports } from '../../sdk/wasm-core.js';
import { watToCore } from '../../runtime/build/wat.js';
import { GatewayError } from '../../runtime/errors.js';

const dir = mkdtempSync(path.join(tmpdir(), 'airssys-sdk-build-'));
function source(name: string, text: string): string {
  const file = path.join(dir, name);
  writeFileSync(file, text);
  return file;
}
async function buildError(file: string): Promise<GatewayError> {
  try {
    await buildAssemblyScript(file);
  } catch (err) {
    expect(err).toBeInstanceOf(GatewayError);
    expect((err as GatewayError).code).toBe('BUILD_FAILED');
    return err as GatewayError;
  }
  throw new Error('build succeeded');
}

const MINIMAL = `import { telemetry, Status, ok } from "@airssys/sdk";
export function onTick(nowMs: u64): Status { return telemetry.publish("t", <f64>nowMs); }
`;

describe('buildAssemblyScript', () => {
  it('produces a component whose core module has exactly the world shape', async () => {
    let core: Uint8Array | undefined;
    const file = source('minimal.ts', MINIMAL);
    const bytes = await buildAssemblyScript(file, { onCoreModule: (c) => (core = c) });
    expect(await componentProblems(bytes)).toEqual([]);
    const info = readCoreModule(core!);
    expect(info.imports.map((i) => `${i.module}#${i.name}`).sort()).toEqual([
      'airssys:gateway/host@0.1.0#log', // abort/trace hooks log through the host (now-ms only if Math.random is used)
      'airssys:gateway/telemetry@0.1.0#publish',
    ]);
    expect(info.exports.map((e) => e.name).sort()).toEqual([
      'cabi_post_init', 'cabi_post_on-gpio', 'cabi_post_on-message', 'cabi_post_on-serial', 'cabi_post_on-tick',
      'cabi_realloc', 'init', 'memory', 'on-gpio', 'on-message', 'on-serial', 'on-tick',
    ]);
    expect(coreModuleProblems(core!)).toEqual([]);
  });

  it('reports compile errors as file:line:col, one line each', async () => {
    const file = source('broken.ts', `import { Status, ok } from "@airssys/sdk";
export function onTick(nowMs: u64): Status {
  let x: i32 = "text";
  undefinedThing();
  return ok();
}
`);
    const err = await buildError(file);
    const lines = err.message.split('\n');
    expect(lines).toHaveLength(2);
    expect(lines[0]).toMatch(/broken\.ts:3:\d+: error AS\d+: .*string.*i32|broken\.ts:3:\d+: error AS\d+/);
    expect(lines[1]).toMatch(/broken\.ts:4:3: error AS\d+: Cannot find name 'undefinedThing'/);
  });

  it('names a handler exported with the wrong signature', async () => {
    const wrongParam = await buildError(source('wrong-param.ts', `import { Status, ok } from "@airssys/sdk";
export function onTick(nowMs: string): Status { return ok(); }
`));
    expect(wrongParam.message).toMatch(/export onTick has the wrong signature: .*\(expected onTick\(nowMs: u64\): Status \| void\)/);
    const wrongReturn = await buildError(source('wrong-return.ts', `
export function onGpio(pin: u32, value: bool, atMs: u64): string { return "x"; }
`));
    expect(wrongReturn.message).toMatch(/export onGpio has the wrong signature/);
    const extra = await buildError(source('extra-param.ts', `import { Status, ok } from "@airssys/sdk";
export function onSerial(port: string, data: Uint8Array, more: i32): Status { return ok(); }
`));
    expect(extra.message).toMatch(/export onSerial has the wrong signature/);
  });

  it('refuses a misspelt handler instead of silently defaulting it', async () => {
    const err = await buildError(source('typo.ts', `import { Status, ok } from "@airssys/sdk";
export function on_tick(nowMs: u64): Status { return ok(); }
`));
    expect(err.message).toMatch(/typo\.ts:2: export on_tick is not a handler name; did you mean onTick\?/);
    expect(misspeltHandlers('export function onTik(): void {}', 'x.ts')[0]).toMatch(/onTik looks like a handler/);
    expect(misspeltHandlers('export function helper(): void {}\nexport function onTick(n: u64): void {}', 'x.ts')).toEqual([]);
  });

  it('accepts handlers that return void', async () => {
    expect([...voidHandlers('export function init(): void {}\nexport function onTick(n: u64): Status {}')]).toEqual(['init']);
    const file = source('void.ts', `import { log } from "@airssys/sdk";
export function init(): void { log.info("hi"); }
`);
    await expect(buildAssemblyScript(file)).resolves.toBeInstanceOf(Uint8Array);
  });

  it('reports a missing source file', async () => {
    await expect(buildAssemblyScript(path.join(dir, 'nope.ts'))).rejects.toThrow(/nope\.ts does not exist/);
  });

  it('never emits a module importing outside the world (env.abort, WASI)', async () => {
    // AssemblyScript would import env.abort/env.trace/env.seed: the SDK routes them to the host.
    const file = source('runtime-hooks.ts', `import { Status, ok, telemetry } from "@airssys/sdk";
export function onTick(nowMs: u64): Status {
  assert(nowMs > 0, "time");
  trace("tick", 1, <f64>nowMs);
  return telemetry.publish("r", Math.random());
}
`);
    const core = await compileAssemblyScript(file);
    expect(readCoreModule(core).imports.every((i) => i.module.startsWith('airssys:gateway/'))).toBe(true);
  });
});

const USES_STORAGE = `import { storage, gpio, telemetry, Status, ok, fail } from "@airssys/sdk";
export function onTick(nowMs: u64): Status {
  const n = storage.getF64("n", 0);
  if (!n.isOk) return fail(n.toString());
  storage.setF64("n", n.value + 1);
  gpio.write(22, true);
  return telemetry.publish("n", n.value + 1);
}
`;

describe('world version of an AssemblyScript build', () => {
  it('a module using storage, i2c or spi is built for 0.2.0 with every import at 0.2.0', async () => {
    let core: Uint8Array | undefined;
    const bytes = await buildAssemblyScript(source('uses-storage.ts', USES_STORAGE), { onCoreModule: (c) => (core = c) });
    expect(await componentProblems(bytes)).toEqual([]);
    expect(readCoreModule(core!).imports.map((i) => `${i.module}#${i.name}`).sort()).toEqual([
      'airssys:gateway/gpio@0.2.0#write',
      'airssys:gateway/host@0.2.0#log',
      'airssys:gateway/storage@0.2.0#get',
      'airssys:gateway/storage@0.2.0#set',
      'airssys:gateway/telemetry@0.2.0#publish',
    ]);
    expect(coreModuleProblems(core!)).toEqual([]);
  });

  it('a 0.1.0-only module may be built for 0.2.0 on request, never the reverse', async () => {
    let core: Uint8Array | undefined;
    const bytes = await buildAssemblyScript(source('minimal-v2.ts', MINIMAL), { world: '0.2.0', onCoreModule: (c) => (core = c) });
    expect(await componentProblems(bytes)).toEqual([]);
    expect(readCoreModule(core!).imports.map((i) => i.module).sort()).toEqual(['airssys:gateway/host@0.2.0', 'airssys:gateway/telemetry@0.2.0']);
    await expect(buildAssemblyScript(source('uses-storage-v1.ts', USES_STORAGE), { world: '0.1.0' })).rejects.toThrow(/uses-storage-v1.ts: uses storage, which world 0.1.0 does not have; build for 0.2.0/);
    await expect(buildAssemblyScript(source('minimal-v9.ts', MINIMAL), { world: '9.9.9' })).rejects.toThrow(/unknown world version 9.9.9; build for one of 0.1.0, 0.2.0/);
  });

  it('the core check takes the expected imports from the world the module names, and refuses mixing', async () => {
    const head = `(memory (export "memory") 1)
      (func (export "cabi_realloc") (param i32 i32 i32 i32) (result i32) i32.const 0)
      (func (export "init") (result i32) i32.const 0)
      (func (export "on-tick") (param i64) (result i32) i32.const 0)
      (func (export "on-gpio") (param i32 i32 i64) (result i32) i32.const 0)
      (func (export "on-serial") (param i32 i32 i32 i32) (result i32) i32.const 0)
      (func (export "on-message") (param i32 i32 i32 i32) (result i32) i32.const 0)`;
    const v2 = await watToCore(`(module
      (import "airssys:gateway/i2c@0.2.0" "transfer" (func (param i32 i32 i32 i32 i32 i32)))
      (import "airssys:gateway/storage@0.2.0" "list-keys" (func (param i32 i32 i32)))
      ${head})`);
    expect(coreModuleProblems(v2)).toEqual([]);
    const mixed = await watToCore(`(module
      (import "airssys:gateway/i2c@0.2.0" "transfer" (func (param i32 i32 i32 i32 i32 i32)))
      (import "airssys:gateway/gpio@0.1.0" "write" (func (param i32 i32 i32)))
      ${head})`);
    expect(coreModuleProblems(mixed)).toEqual([expect.stringMatching(/imports airssys:gateway\/gpio@0.1.0#write, which is not part of airssys:gateway\/sensor@0.2.0; a component imports one world version only/)]);
    const wrong = await watToCore(`(module (import "airssys:gateway/spi@0.2.0" "transfer" (func (param i32 i32 i32 i32))) ${head})`);
    expect(coreModuleProblems(wrong)).toEqual([expect.stringMatching(/spi@0.2.0#transfer with core type \(i32, i32, i32, i32\) -> \(\), expected \(i32, i32, i32, i32, i32\) -> \(\)/)]);
  });
});

describe('core module checks', () => {
  it('names foreign imports and wrong export signatures', async () => {
    const core = await watToCore(`(module
      (import "env" "abort" (func (param i32 i32 i32 i32)))
      (import "airssys:gateway/gpio@0.1.0" "read" (func (param i32) (result i32)))
      (memory (export "memory") 1)
      (func (export "cabi_realloc") (param i32 i32 i32 i32) (result i32) i32.const 0)
      (func (export "init") (result i32) i32.const 0)
      (func (export "on-tick") (param i32) (result i32) i32.const 0)
      (func (export "on-gpio") (param i32 i32 i64) (result i32) i32.const 0)
      (func (export "on-serial") (param i32 i32 i32 i32) (result i32) i32.const 0)
      (func (export "helper") (result i32) i32.const 0))`);
    const problems = coreModuleProblems(core);
    expect(problems).toEqual([
      expect.stringMatching(/imports env#abort, which is not part of airssys:gateway\/sensor/),
      expect.stringMatching(/imports airssys:gateway\/gpio@0.1.0#read with core type \(i32\) -> i32, expected \(i32, i32\) -> \(\)/),
      expect.stringMatching(/export on-tick has core type \(i32\) -> i32, expected \(i64\) -> i32 for on-tick: func\(now-ms: u64\)/),
      expect.stringMatching(/export on-message is missing/),
      expect.stringMatching(/exports helper, which the world does not have/),
    ]);
  });

  it('renames exports without disturbing the rest of the module', async () => {
    const core = await watToCore(`(module (memory (export "memory") 1) (func (export "on_tick") (param i64) (result i32) i32.const 7))`);
    const renamed = renameExports(core, (n) => (n === 'on_tick' ? 'on-tick' : n));
    const inst = new WebAssembly.Instance(new WebAssembly.Module(renamed));
    expect((inst.exports['on-tick'] as (x: bigint) => number)(1n)).toBe(7);
    expect(readCoreModule(renamed).exports.map((e) => e.name)).toEqual(['memory', 'on-tick']);
  });
});

describe('the SDK gate uses the gateway world check', () => {
  it('names what a component of another world, or one importing outside it, gets wrong', async () => {
    const { otherWorld, importsOutsideWorld } = await import('../helpers/components.js');
    expect((await componentProblems(await otherWorld()))[0]).toMatch(/unexpected export `run: func\(\)`/);
    expect((await componentProblems(await importsOutsideWorld()))[0]).toMatch(/imports airssys:gateway\/secrets@0\.1\.0, which is outside the world/);
    expect(await componentProblems(new Uint8Array([0, 97, 115, 109, 1, 0, 0, 0]))).toEqual([expect.stringMatching(/missing export `init/)]);
  });
});
