import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { importName, worldVersion, WORLDS } from './interfaces/index.js';

/** The first world version (contract section 1); every version string is derived from WORLDS. */
export const BASE_WORLD_VERSION = WORLDS[0]!.version;

/** `airssys:gateway/sensor@<version>`. */
export const worldName = (version: string): string => `airssys:gateway/sensor@${version}`;

/** The one world every component must target (contract section 1). */
export const WORLD_PACKAGE = `airssys:gateway@${BASE_WORLD_VERSION}`;
export const WORLD_NAME = worldName(BASE_WORLD_VERSION);

/** Interfaces a component may import, as they appear in a component's import names. */
export const WORLD_IMPORTS: readonly string[] = [importName('types', BASE_WORLD_VERSION), ...WORLDS[0]!.interfaces.map((i) => importName(i.name, BASE_WORLD_VERSION))];

/** Exports the world requires, with their core (flattened) signatures as wit-component lowers them. */
export const WORLD_EXPORTS = ['init', 'on-tick', 'on-gpio', 'on-serial', 'on-message'] as const;
export type WorldExport = (typeof WORLD_EXPORTS)[number];

/** Every world version the gateway loads, as `airssys:gateway/sensor@<version>`. */
export const WORLD_NAMES: readonly string[] = WORLDS.map((w) => worldName(w.version));

/** Where each version's WIT lives in `wit/`: 0.1.0 at the top (contract section 1), later ones beside it. */
export const witPath = (version: string): string => (version === BASE_WORLD_VERSION ? 'wit/world.wit' : `wit/${version}/world.wit`);
const witSources = new Map<string, string>();
/** The WIT text of a world version (default 0.1.0), read once from `wit/` shipped with the package. */
export function worldWit(version = BASE_WORLD_VERSION): string {
  let text = witSources.get(version);
  if (text === undefined) {
    const file = worldVersion(version) && `../${witPath(version)}`;
    if (!file) throw new Error(`no WIT for world version ${version}`);
    text = readFileSync(fileURLToPath(new URL(file, import.meta.url)), 'utf8');
    witSources.set(version, text);
  }
  return text;
}

/** The newest world version a core module's import names mention (`…@0.2.0`), else 0.1.0. */
export function worldVersionOfImports(importModules: Iterable<string>): string {
  let best = BASE_WORLD_VERSION;
  for (const m of importModules) {
    const v = /^airssys:gateway\/[a-z0-9-]+@(\d+\.\d+\.\d+)$/.exec(m)?.[1];
    if (v && WORLDS.some((w) => w.version === v) && v > best) best = v;
  }
  return best;
}
