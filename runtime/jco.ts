import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

/**
 * The one place jco is loaded. The gateway uses two pieces of jco 1.11.2 (pinned by benchmark:
 * docs/runtime.md): the bindgen that transpiles a component into JS glue, and wasm-tools (a
 * component's WIT; WAT parse, embed and new for builds). Both are Wasm modules with thin JS
 * wrappers in jco's `obj/` folder. jco's command line around them (terser, binaryen,
 * componentize-js, wizer: ~150 MB) is never used, so an installed gateway carries only `obj/`:
 * `npm run build` copies it to `dist/vendor/jco/` and jco itself is a development dependency.
 *
 * The calls below are exactly what jco's `transpile(bytes, { name: 'component', instantiation:
 * 'sync', nodejsCompat: false })` and its wasm-tools wrappers do for those options, so the glue
 * is byte-for-byte what the benchmarks measured.
 *
 * jco is heavy (~10 MB of Wasm), so it is loaded only when a component has to be built or
 * transpiled; `jcoLoaded()` lets tests and the warm-start benchmark prove that a load from cache
 * never paid for it.
 */
export interface Jco {
  /** The gateway's glue: synchronous instantiation, no Node.js compat shims, with .d.ts files. */
  transpile(component: Uint8Array): Promise<{ files: Record<string, Uint8Array> }>;
  componentWit(component: Uint8Array): Promise<string>;
  parse(wat: string): Promise<Uint8Array>;
  componentEmbed(opts: { binary: Uint8Array; witSource: string; world: string }): Promise<Uint8Array>;
  componentNew(core: Uint8Array, adapters: undefined): Promise<Uint8Array>;
}

interface Bindgen {
  $init: Promise<void>;
  generate(component: Uint8Array, opts: Record<string, unknown>): { files: Array<[string, Uint8Array]> };
}
interface WasmTools {
  $init: Promise<void>;
  tools: {
    componentWit(binary: Uint8Array): string;
    parse(wat: string): Uint8Array;
    componentEmbed(opts: Record<string, unknown>): Uint8Array;
    componentNew(binary: Uint8Array, adapters: undefined): Uint8Array;
  };
}

/** dist/vendor/jco beside the compiled runtime (an install), else jco's own obj/ (a checkout). */
export function jcoObjDir(): string {
  const vendored = fileURLToPath(new URL('../vendor/jco/', import.meta.url));
  if (existsSync(join(vendored, 'js-component-bindgen-component.js'))) return vendored;
  // jco's exports map hides obj/; resolving its main entry (without loading it) finds the folder.
  const main = createRequire(import.meta.url).resolve('@bytecodealliance/jco');
  return join(dirname(main), '..', 'obj');
}

let loaded: Promise<Jco> | undefined;

export function loadJco(): Promise<Jco> {
  loaded ??= load();
  return loaded;
}

export function jcoLoaded(): boolean {
  return loaded !== undefined;
}

async function load(): Promise<Jco> {
  const dir = jcoObjDir();
  const [bindgen, wasmTools] = await Promise.all([
    import(pathToFileURL(join(dir, 'js-component-bindgen-component.js')).href) as Promise<Bindgen>,
    import(pathToFileURL(join(dir, 'wasm-tools.js')).href) as Promise<WasmTools>,
  ]);
  await Promise.all([bindgen.$init, wasmTools.$init]);
  const { tools } = wasmTools;
  return {
    transpile: async (component) => {
      const { files } = bindgen.generate(component, {
        name: 'component',
        map: [],
        instantiation: { tag: 'sync' },
        asyncMode: null,
        importBindings: null,
        validLiftingOptimization: false,
        tracing: false,
        noNodejsCompat: true,
        noTypescript: false,
        tlaCompat: false,
        base64Cutoff: 5000,
        noNamespacedExports: false,
        multiMemory: false,
        idlImports: false,
      });
      return { files: Object.fromEntries(files) };
    },
    componentWit: async (component) => tools.componentWit(component),
    parse: async (wat) => tools.parse(wat),
    componentEmbed: async (opts) => tools.componentEmbed(opts),
    componentNew: async (core, adapters) => tools.componentNew(core, adapters),
  };
}
