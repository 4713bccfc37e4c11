import { loadJco } from '../jco.js';
import { GatewayError } from '../errors.js';
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

/** Builds a sensor-world component from a core module written in WAT. */
export async function buildWat(wat: string): Promise<Uint8Array> {
  return componentFromCore(await watToCore(wat));
}
