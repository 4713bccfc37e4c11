import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { importName, WORLDS } from './interfaces/index.js';

/** The one world every component must target (contract section 1). */
export const WORLD_PACKAGE = 'airssys:gateway@0.1.0';
export const WORLD_NAME = 'airssys:gateway/sensor@0.1.0';

/** Interfaces a component may import, as they appear in a component's import names. */
export const WORLD_IMPORTS: readonly string[] = [importName('types', WORLDS[0]!.version), ...WORLDS[0]!.interfaces.map((i) => importName(i.name, WORLDS[0]!.version))];

/** Exports the world requires, with their core (flattened) signatures as wit-component lowers them. */
export const WORLD_EXPORTS = ['init', 'on-tick', 'on-gpio', 'on-serial', 'on-message'] as const;
export type WorldExport = (typeof WORLD_EXPORTS)[number];

let witSource: string | undefined;
/** The WIT text of the world, read once from `wit/world.wit` shipped with the package. */
export function worldWit(): string {
  witSource ??= readFileSync(fileURLToPath(new URL('../wit/world.wit', import.meta.url)), 'utf8');
  return witSource;
}
