/**
 * The one place jco is imported. It is heavy (wasm-tools and the bindgen as Wasm, ~10 MB), so it is
 * loaded only when a component has to be built or transpiled; `jcoLoaded()` lets tests and the
 * warm-start benchmark prove that a load from cache never paid for it.
 */
type Jco = typeof import('@bytecodealliance/jco');

let loaded: Promise<Jco> | undefined;

export function loadJco(): Promise<Jco> {
  loaded ??= import('@bytecodealliance/jco');
  return loaded;
}

export function jcoLoaded(): boolean {
  return loaded !== undefined;
}
