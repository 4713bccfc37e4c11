import type { HostApi } from './host-api.js';
import { camel, importName, WORLDS } from './interfaces/index.js';

/**
 * Holds host functions by WIT interface, in the shape jco's glue expects: an import object keyed by
 * versioned interface name, with camelCase function names. Results cross as return values; a
 * refusal is a thrown HostCallError, which the glue turns into `err(host-error)`.
 *
 * Derived from the interface descriptors (runtime/interfaces/): every interface of every world
 * version the gateway loads, each function bound to its HostApi method — the equivalent of
 * Wasmtime's per-interface `add_to_linker`.
 *
 * `bind(api)` returns a fresh import object for one instance; it closes over that instance's HostApi
 * and nothing else, so instances never share state through the linker.
 */
export type ImportObject = Record<string, Record<string, (...args: never[]) => unknown>>;

export class Linker {
  bind(api: HostApi): ImportObject {
    const byInterface: ImportObject = {};
    const methods = api as unknown as Record<string, (...a: unknown[]) => unknown>;
    // One function object per method, shared by every world version offering it.
    const bound = new Map<string, (...args: never[]) => unknown>();
    const bindMethod = (method: string) => {
      let f = bound.get(method);
      if (!f) bound.set(method, (f = methods[method]!.bind(api) as (...args: never[]) => unknown));
      return f;
    };
    for (const world of WORLDS) {
      byInterface[importName('types', world.version)] = {};
      for (const i of world.interfaces) {
        const fns: Record<string, (...args: never[]) => unknown> = {};
        for (const f of i.functions) fns[camel(f.wit)] = bindMethod(f.method);
        byInterface[importName(i.name, world.version)] = fns;
      }
    }
    // jco 1.11 glue looks imports up without the version; newer glue with it. Offer both (the
    // newest version wins the unversioned name: it is a superset, and error tags are the guest's).
    for (const name of Object.keys(byInterface)) byInterface[name.replace(/@[^@]+$/, '')] = byInterface[name]!;
    return byInterface;
  }
}
