import { GatewayError } from './errors.js';
import { LOG_LEVELS } from './host-api-types.js';
import { BASE_WORLD_VERSION, witPath, worldName } from './world.js';
import { importName, jcoDecl, jcoFile, worldVersion, WORLDS, type WorldVersion } from './interfaces/index.js';

/**
 * Checks that a component fits `airssys:gateway/sensor@0.1.0`, from what jco tells about it:
 * the WIT text of its world (`componentWit`) and the TypeScript declarations jco generates for each
 * imported interface. A component may import a subset of the world's interfaces, and of their
 * functions, but each one it does import must have exactly the world's signature; it must export
 * exactly the world's five functions. The first mismatch is reported by name.
 *
 * The expected declarations are derived from the interface descriptors (runtime/interfaces/): what
 * jco 1.11.2 generates for wit/world.wit; test/runtime/interfaces.test.ts regenerates them with jco
 * from the WIT so the two cannot drift apart.
 */
export const EXPECTED_EXPORTS = [
  'export init: func() -> result<_, string>;',
  'export on-tick: func(now-ms: u64) -> result<_, string>;',
  'export on-gpio: func(pin: u32, value: bool, at-ms: u64) -> result<_, string>;',
  'export on-serial: func(port: string, data: list<u8>) -> result<_, string>;',
  'export on-message: func(topic: string, payload: list<u8>) -> result<_, string>;',
];

const HOST_ERROR = "export type HostError = import('./airssys-gateway-types.js').HostError;";

/** Declaration lines per interface file jco writes (`interfaces/<file>.d.ts`), derived from the descriptors. */
export function expectedInterfaceDecls(world: WorldVersion): Record<string, { functions: string[]; always: string[] }> {
  const out: Record<string, { functions: string[]; always: string[] }> = {};
  for (const i of world.interfaces) {
    out[jcoFile(i.name)] = { functions: i.functions.map(jcoDecl), always: i.functions.some((f) => f.fallible) ? [HOST_ERROR] : [] };
  }
  return out;
}

/** What jco writes for the `types` interface: the host-error variant and the log-level enum. */
export function expectedTypesDecl(world: WorldVersion): string[] {
  const cap = (t: string) => t[0]!.toUpperCase() + t.slice(1);
  return [
    `export type HostError = ${world.errorTags.map((t) => `HostError${cap(t)}`).join(' | ')};`,
    ...world.errorTags.flatMap((t) => [`export interface HostError${cap(t)} {`, `tag: '${t}',`, 'val: string,', '}']),
    `export type LogLevel = ${LOG_LEVELS.map((l) => `'${l}'`).join(' | ')};`,
  ];
}

const WORLD_0_1 = WORLDS[0]!;
export const EXPECTED_INTERFACE_DECLS = expectedInterfaceDecls(WORLD_0_1);
export const EXPECTED_TYPES_DECL = expectedTypesDecl(WORLD_0_1);

/** Lines that carry meaning: no comments, no blank lines, trimmed. */
export function declLines(text: string): string[] {
  return text
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith('/**') && !l.startsWith('*') && !l.startsWith('//') && !l.startsWith('*/'));
}

export interface WorldSummary {
  imports: string[];
  exports: string[];
}

/** Reads import and export lines out of the WIT that `componentWit` prints for a component. */
export function summarizeWit(wit: string): WorldSummary {
  const imports: string[] = [];
  const exports: string[] = [];
  for (const raw of wit.split('\n')) {
    const line = raw.trim();
    const imp = /^import\s+([^;:\s]+(?::[^;\s]+)?)(?::|;)/.exec(line);
    if (line.startsWith('import ')) imports.push(imp ? imp[1]! : line.slice(7).replace(/;$/, ''));
    if (line.startsWith('export ')) exports.push(line);
  }
  return { imports, exports };
}

const invalid = (what: string, version = BASE_WORLD_VERSION) =>
  new GatewayError('INCOMPATIBLE_WORLD', `component does not target ${worldName(version)}: ${what}; rebuild it against ${witPath(version)}`);

/**
 * The world version a component targets, from the versions its `airssys:gateway/…` imports name:
 * exactly one (a component mixing versions is refused), 0.1.0 when it imports none.
 */
export function worldOf(summary: WorldSummary): WorldVersion {
  const versions = new Set<string>();
  for (const imp of summary.imports) {
    const m = /^airssys:gateway\/[^@]+@(.+)$/.exec(imp);
    if (m) versions.add(m[1]!);
  }
  if (versions.size > 1) {
    throw new GatewayError('INCOMPATIBLE_WORLD', `component mixes world versions (${[...versions].sort().join(', ')}): a component imports the interfaces of one airssys:gateway/sensor version only; rebuild it against one of them`);
  }
  const version = versions.size ? [...versions][0]! : BASE_WORLD_VERSION;
  const world = worldVersion(version);
  if (!world) throw invalid(`it imports airssys:gateway interfaces @${version}, a world version this gateway does not load (it loads ${WORLDS.map((w) => w.version).join(', ')})`);
  return world;
}

/** Checks a component against the world its imports name; returns that world. */
export function checkWorld(summary: WorldSummary, interfaceDecls: Map<string, string>): WorldVersion {
  const world = worldOf(summary);
  const v = world.version;
  const allowed = new Set<string>([importName('types', v), ...world.interfaces.map((i) => importName(i.name, v))]);
  for (const imp of summary.imports) {
    if (!allowed.has(imp)) throw invalid(`it imports ${imp}, which is outside the world`, v);
  }
  for (const exp of summary.exports) {
    if (!EXPECTED_EXPORTS.includes(exp)) throw invalid(`unexpected export \`${exp.replace(/^export /, '').replace(/;$/, '')}\``, v);
  }
  for (const exp of EXPECTED_EXPORTS) {
    if (!summary.exports.includes(exp)) throw invalid(`missing export \`${exp.replace(/^export /, '').replace(/;$/, '')}\``, v);
  }
  const expectedDecls = v === BASE_WORLD_VERSION ? EXPECTED_INTERFACE_DECLS : expectedInterfaceDecls(world);
  const expectedTypes = v === BASE_WORLD_VERSION ? EXPECTED_TYPES_DECL : expectedTypesDecl(world);
  for (const [file, text] of interfaceDecls) {
    const lines = declLines(text).filter((l) => !l.startsWith('import '));
    if (file === 'airssys-gateway-types') {
      if (lines.join('\n') !== expectedTypes.join('\n')) throw invalid('its airssys:gateway/types interface differs from the world (host-error or log-level)', v);
      continue;
    }
    const expected = expectedDecls[file];
    if (!expected) throw invalid(`it imports an unknown interface (${file})`, v);
    for (const line of lines) {
      if ((line.startsWith('export function') || line.startsWith('declare function')) && !expected.functions.includes(line)) {
        throw invalid(`in ${file.replace('airssys-gateway-', 'airssys:gateway/')}: \`${line.replace(/^(export|declare) function _?/, '').replace(/;$/, '')}\` has a signature the world does not define`, v);
      }
    }
    for (const line of expected.always) {
      if (!lines.includes(line)) throw invalid(`in ${file.replace('airssys-gateway-', 'airssys:gateway/')}: functions do not return result<_, host-error> as the world defines`, v);
    }
  }
  return world;
}
