/**
 * Memory limits: parsing `limits`, refusing memory64 and custom page sizes, and capping the maximum
 * of every memory the module defines.
 */
import { GatewayError } from '../errors.js';
import { invalid, Reader, Writer } from './binary.js';

export interface Limits {
  flags: number;
  min: number;
  max: number | undefined;
}

/** Reads memory or table limits (flags, min, optional max; 64-bit bounds when flag 0x04 is set). */
export function readLimits(r: Reader): Limits {
  const flags = r.byte();
  if (flags & ~0x0f) throw invalid(`limits flags 0x${flags.toString(16)}`);
  const wide = (flags & 0x04) !== 0;
  const min = wide ? r.u64() : r.u32();
  const max = flags & 0x01 ? (wide ? r.u64() : r.u32()) : undefined;
  if (flags & 0x08) r.u32(); // custom-page-sizes: log2 of the page size
  return { flags, min, max };
}

/** Memories we cannot cap or meter: 64-bit address space, or pages that are not 64 KiB. */
export function checkMemoryKind(limits: Limits, where: string): void {
  if (limits.flags & 0x04) {
    throw new GatewayError('UNSUPPORTED_WASM', `${where} is a 64-bit memory (memory64), which the gateway cannot meter; build the component for wasm32`);
  }
  if (limits.flags & 0x08) {
    throw new GatewayError('UNSUPPORTED_WASM', `${where} uses custom page sizes, which the gateway cannot cap; build the component without that feature`);
  }
}

function mib(pages: number): string {
  const v = pages / 16; // 64 KiB pages
  return Number.isInteger(v) ? String(v) : v.toFixed(2).replace(/0+$/, '');
}

export interface CappedMemory {
  initialPages: number;
  maxPages: number;
}

/**
 * Rewrites the memory section so every defined memory has maximum min(existing, cap). Refuses a
 * memory whose initial size is above the cap: it could never run within its limit.
 */
export function capMemorySection(payload: Uint8Array, capPages: number, firstIndex: number): { payload: Uint8Array; memories: CappedMemory[] } {
  const r = new Reader(payload);
  const w = new Writer(payload.length + 16);
  const n = r.u32();
  w.u32(n);
  const memories: CappedMemory[] = [];
  for (let i = 0; i < n; i++) {
    const limits = readLimits(r);
    checkMemoryKind(limits, `memory ${firstIndex + i}`);
    if (limits.min > capPages) {
      throw new GatewayError(
        'MEMORY_LIMIT',
        `component needs ${mib(limits.min)} MiB of initial memory, above its limit of ${mib(capPages)} MiB; raise limits.memory-mb in the manifest or shrink the component`,
      );
    }
    const max = limits.max === undefined ? capPages : Math.min(limits.max, capPages);
    w.byte(limits.flags | 0x01).u32(limits.min).u32(max);
    memories.push({ initialPages: limits.min, maxPages: max });
  }
  if (!r.done) throw invalid('trailing bytes in the memory section');
  return { payload: w.finish(), memories };
}
