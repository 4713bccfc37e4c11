import { loadJco } from '../jco.js';
import { GatewayError } from '../errors.js';
import { BASE_WORLD_VERSION, witPath, worldName, worldWit } from '../world.js';

/**
 * Wraps a core module that follows the canonical ABI for the sensor world into a component:
 * embed the world's WIT as a custom section, then let wit-component (inside jco's wasm-tools)
 * build the component. jco is imported lazily: only builds and cold loads pay for it.
 */
export async function componentFromCore(core: Uint8Array, version = BASE_WORLD_VERSION): Promise<Uint8Array> {
  const jco = await loadJco();
  try {
    const embedded = await jco.componentEmbed({ binary: core, witSource: worldWit(version), world: 'sensor' });
    return await jco.componentNew(embedded, undefined);
  } catch (err) {
    throw new GatewayError('BUILD_FAILED', `the module does not implement ${worldName(version)}: ${oneLine(err)}; check its imports and exports against ${witPath(version)}`);
  }
}

export function oneLine(err: unknown): string {
  const text = err instanceof Error ? err.message : String(err);
  return text.split('\n').map((l) => l.trim()).filter(Boolean).slice(0, 3).join(' / ');
}
