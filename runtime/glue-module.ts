import { compileFunction } from 'node:vm';

/** jco's glue module for one component (instantiation mode `sync`). */
export interface GlueModule {
  instantiate: (
    getCoreModule: (name: string) => WebAssembly.Module,
    imports: Record<string, unknown>,
    instantiateCore: (module: WebAssembly.Module, imports?: WebAssembly.Imports) => WebAssembly.Instance,
  ) => Record<string, (...args: unknown[]) => unknown>;
}

/** The one export of jco's sync-instantiation glue, at the start of a line. */
const INSTANTIATE_EXPORT = /^export function instantiate\(/m;

/**
 * Loads glue text: exactly the bytes the cache verified run, never whatever is on disk by the time
 * of the load (used on the main thread and in workers alike).
 *
 * Why not `import()` of a data: URL: Node's ESM loader never unloads a module, so every distinct glue
 * text imported that way stayed for the life of the process (~80 KB of heap per release whose glue
 * differs: the module record, its source and its base64 URL; docs/hardening.md). jco's `sync` glue is
 * a module with no imports whose only export is `export function instantiate(`; with that `export`
 * keyword removed it is a strict-mode function body returning `instantiate` (same line numbers),
 * which V8 frees with the last reference to what it returns. Glue of any other shape (another jco,
 * other options) is still imported as a module.
 */
export async function importGlue(text: string): Promise<GlueModule> {
  if (isSyncGlue(text)) {
    const body = `'use strict'; ${text.replace(INSTANTIATE_EXPORT, 'function instantiate(')}\nreturn { instantiate };`;
    return compileFunction(body, [], { filename: 'airssys-glue.js' })() as GlueModule;
  }
  return (await import(`data:text/javascript;base64,${Buffer.from(text, 'utf8').toString('base64')}`)) as GlueModule;
}

/** One `export`, the `instantiate` function; no static or dynamic import, no `import.meta`. */
function isSyncGlue(text: string): boolean {
  return INSTANTIATE_EXPORT.test(text) && (text.match(/^\s*export\b/gm) ?? []).length === 1 && !/^\s*import\b/m.test(text) && !/\bimport\b\s*[(.]/.test(text);
}
