/** jco's glue module for one component (instantiation mode `sync`). */
export interface GlueModule {
  instantiate: (
    getCoreModule: (name: string) => WebAssembly.Module,
    imports: Record<string, unknown>,
    instantiateCore: (module: WebAssembly.Module, imports?: WebAssembly.Imports) => WebAssembly.Instance,
  ) => Record<string, (...args: unknown[]) => unknown>;
}

/**
 * Imports glue text as a module from a data: URL: exactly the bytes the cache verified run, never
 * whatever is on disk by the time of the import (used on the main thread and in workers alike).
 */
export async function importGlue(text: string): Promise<GlueModule> {
  return (await import(`data:text/javascript;base64,${Buffer.from(text, 'utf8').toString('base64')}`)) as GlueModule;
}
