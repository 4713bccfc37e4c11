import { GatewayError } from '../runtime/errors.js';
import { coreSignature, importName, worldVersion, WORLDS, type WorldVersion } from '../runtime/interfaces/index.js';
import { worldVersionOfImports } from '../runtime/world.js';
import { readCoreModule, signature, type FuncType } from './wasm-core.js';

/**
 * The core-module shape wit-component expects for airssys:gateway/sensor (canonical ABI,
 * flattened), for the world version the module's imports name (0.1.0 when they name none). Checked before componentNew so a wrong export is reported by its WIT name, and so the
 * SDK never hands the gateway a component that imports anything outside the world.
 */
const f = (params: string, results = ''): FuncType => ({
  params: params ? (params.split(' ') as FuncType['params']) : [],
  results: results ? (results.split(' ') as FuncType['results']) : [],
});

/** Core imports per interface of a world, derived from the descriptors (runtime/interfaces/). */
export function coreImports(world: WorldVersion): Record<string, Record<string, FuncType>> {
  return Object.fromEntries(
    world.interfaces.map((i) => [importName(i.name, world.version), Object.fromEntries(i.functions.map((fn) => [fn.wit, coreSignature(fn) as FuncType]))]),
  );
}

/** Core imports of the 0.1.0 world. */
export const CORE_IMPORTS: Record<string, Record<string, FuncType>> = coreImports(WORLDS[0]!);
const CORE_IMPORTS_BY_VERSION = new Map(WORLDS.map((w) => [w.version, w.version === '0.1.0' ? CORE_IMPORTS : coreImports(w)]));

export const CORE_EXPORTS: Record<string, { type: FuncType; wit: string }> = {
  init: { type: f('', 'i32'), wit: 'init: func() -> result<_, string>' },
  'on-tick': { type: f('i64', 'i32'), wit: 'on-tick: func(now-ms: u64) -> result<_, string>' },
  'on-gpio': { type: f('i32 i32 i64', 'i32'), wit: 'on-gpio: func(pin: u32, value: bool, at-ms: u64) -> result<_, string>' },
  'on-serial': { type: f('i32 i32 i32 i32', 'i32'), wit: 'on-serial: func(port: string, data: list<u8>) -> result<_, string>' },
  'on-message': { type: f('i32 i32 i32 i32', 'i32'), wit: 'on-message: func(topic: string, payload: list<u8>) -> result<_, string>' },
};

const REALLOC = f('i32 i32 i32 i32', 'i32');
const same = (a: FuncType | undefined, b: FuncType) =>
  !!a && a.params.join() === b.params.join() && a.results.join() === b.results.join();

/** Every problem found, one line each; empty when the module will componentize for the world. */
export function coreModuleProblems(core: Uint8Array): string[] {
  const problems: string[] = [];
  let info;
  try {
    info = readCoreModule(core);
  } catch (err) {
    return [`not a core WebAssembly module: ${(err as Error).message}`];
  }
  const version = worldVersionOfImports(info.imports.map((i) => i.module));
  const expected = CORE_IMPORTS_BY_VERSION.get(version) ?? CORE_IMPORTS;
  for (const imp of info.imports) {
    const iface = expected[imp.module];
    const want = iface?.[imp.name];
    if (!want || imp.kind !== 'func') {
      const other = /^airssys:gateway\/([a-z0-9-]+)@(.+)$/.exec(imp.module);
      const why = other && worldVersion(other[2]!) && other[2] !== version
        ? `; a component imports one world version only (rebuild it so every airssys:gateway import is @${version})`
        : "; the gateway would reject it (use only the world's host functions)";
      problems.push(`imports ${imp.module}#${imp.name}, which is not part of airssys:gateway/sensor@${version}${why}`);
    } else if (!same(imp.type, want)) {
      problems.push(`imports ${imp.module}#${imp.name} with core type ${signature(imp.type)}, expected ${signature(want)}`);
    }
  }
  const exported = new Map(info.exports.map((e) => [e.name, e]));
  for (const [name, spec] of Object.entries(CORE_EXPORTS)) {
    const e = exported.get(name);
    if (!e) problems.push(`export ${name} is missing (the world requires ${spec.wit})`);
    else if (e.kind !== 'func' || !same(e.type, spec.type)) {
      problems.push(`export ${name} has core type ${signature(e.type)}, expected ${signature(spec.type)} for ${spec.wit}`);
    }
  }
  const mem = exported.get('memory');
  if (!mem || mem.kind !== 'memory') problems.push('export memory is missing (strings and lists need it)');
  const realloc = exported.get('cabi_realloc');
  if (!realloc || !same(realloc.type, REALLOC)) problems.push(`export cabi_realloc is missing or not ${signature(REALLOC)}`);
  for (const e of info.exports) {
    if (CORE_EXPORTS[e.name] || e.name === 'memory' || e.name === 'cabi_realloc') continue;
    const post = /^cabi_post_(.+)$/.exec(e.name);
    if (post && CORE_EXPORTS[post[1]!]) {
      if (!same(e.type, f('i32'))) problems.push(`export ${e.name} must be (i32) -> ()`);
      continue;
    }
    if (e.name.startsWith('cabi_') || e.name === '_initialize') continue;
    problems.push(`exports ${e.name}, which the world does not have; remove it or rename it to one of ${Object.keys(CORE_EXPORTS).join(', ')}`);
  }
  return problems;
}

/** Throws BUILD_FAILED naming the first problems when the core module does not fit the world. */
export function assertCoreModule(core: Uint8Array, what: string): void {
  const problems = coreModuleProblems(core);
  if (problems.length) {
    throw new GatewayError('BUILD_FAILED', `${what}: ${problems.slice(0, 3).join('; ')}`);
  }
}
