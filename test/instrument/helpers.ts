import { FUEL_EXPORT, GROW_FAILED_EXPORT, instrumentCoreModule, type InstrumentOptions } from '../../runtime/instrument/index.js';

export async function wat(text: string): Promise<Uint8Array<ArrayBuffer>> {
  const jco = await import('@bytecodealliance/jco');
  return (await jco.parse(text)) as Uint8Array<ArrayBuffer>;
}

export interface Pair {
  plain: Record<string, any>;
  metered: Record<string, any>;
  fuel: WebAssembly.Global;
  growFailed: WebAssembly.Global;
  bytes: Uint8Array;
}

/** Instantiates a module as is and instrumented (imports built per instance by `imports`). */
export async function pair(
  original: Uint8Array<ArrayBuffer>,
  opts: InstrumentOptions = { memoryMaxPages: 64 },
  imports: () => WebAssembly.Imports = () => ({}),
): Promise<Pair> {
  if (!WebAssembly.validate(original)) throw new Error('the original module does not validate: fix the test program');
  const { bytes } = instrumentCoreModule(original, opts);
  if (!WebAssembly.validate(bytes)) throw new Error('instrumented module does not validate');
  const plain = (await WebAssembly.instantiate(original, imports())).instance.exports as Record<string, any>;
  const metered = (await WebAssembly.instantiate(bytes, imports())).instance.exports as Record<string, any>;
  return { plain, metered, fuel: metered[FUEL_EXPORT], growFailed: metered[GROW_FAILED_EXPORT], bytes };
}

/** Fuel used by one call: sets a big budget, calls, reads what is left. */
export function fuelUsed(p: Pair, call: () => unknown): number {
  const start = 1n << 50n;
  p.fuel.value = start;
  call();
  return Number(start - (p.fuel.value as bigint));
}
