import { loadJco } from '../jco.js';
import { GatewayError } from '../errors.js';
import { worldVersionOfImports } from '../world.js';
import { componentFromCore, oneLine } from './component.js';

/** Parses WebAssembly text (a core module) into binary with jco's wasm-tools. */
export async function watToCore(wat: string): Promise<Uint8Array> {
  const jco = await loadJco();
  try {
    return await jco.parse(wat);
  } catch (err) {
    throw new GatewayError('BUILD_FAILED', `WAT does not parse: ${oneLine(err)}; fix the text at the position shown`);
  }
}

/**
 * Builds a sensor-world component from a core module written in WAT, against the world version its
 * imports name (a module importing `airssys:gateway/…@0.2.0` is built against 0.2.0, else 0.1.0).
 */
export async function buildWat(wat: string): Promise<Uint8Array> {
  const modules = [...wat.matchAll(/\(import\s+"([^"]+)"/g)].map((m) => m[1]!);
  return componentFromCore(await watToCore(wat), worldVersionOfImports(modules));
}
