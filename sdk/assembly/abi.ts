// Canonical-ABI glue for airssys:gateway/sensor (0.1.0 and 0.2.0), written by hand because
// AssemblyScript has no wit-bindgen. Everything here is internal to the SDK: component authors use
// index.ts.
//
// World versions: the interfaces both worlds share are declared at 0.1.0, the ones only 0.2.0 has
// (i2c, spi, storage) at 0.2.0. AssemblyScript imports only the functions a component calls, so a
// component that never touches i2c, spi or storage imports 0.1.0 interfaces only and builds as 0.1.0;
// otherwise sdk/build.ts moves all its imports to 0.2.0 after compiling. The core signatures are
// the same in both worlds; sdk/core-check.ts checks them against the interface descriptors.
//
// Memory rules (why the component's memory stays flat over months of ticks):
// - AssemblyScript objects live on the GC heap (--runtime incremental): state kept in globals
//   survives, garbage made while handling an event is collected.
// - Blocks the host allocates through cabi_realloc (strings and lists it passes in, error strings it
//   writes back) are raw heap blocks, not GC objects. The SDK copies each into an AssemblyScript value
//   and frees the block at once, so nothing the host allocated outlives the call that made it.
// - The one block that must outlive an export is the UTF-8 text of an `err(string)` result: the
//   host reads it after the export returns. It is freed by the export's cabi_post_<name> (which the
//   canonical ABI calls once the host has read the result), or at the latest when the next export
//   starts, for hosts that skip post-return.

// ---- host imports: core signatures exactly as wit-component lowers them ------------------------

// @ts-ignore: decorator
@external("airssys:gateway/gpio@0.1.0", "read")
export declare function _gpioRead(pin: u32, retptr: usize): void;
// @ts-ignore: decorator
@external("airssys:gateway/gpio@0.1.0", "write")
export declare function _gpioWrite(pin: u32, value: i32, retptr: usize): void;
// @ts-ignore: decorator
@external("airssys:gateway/serial@0.1.0", "write")
export declare function _serialWrite(portPtr: usize, portLen: usize, dataPtr: usize, dataLen: usize, retptr: usize): void;
// @ts-ignore: decorator
@external("airssys:gateway/telemetry@0.1.0", "publish")
export declare function _publish(chPtr: usize, chLen: usize, value: f64, retptr: usize): void;
// @ts-ignore: decorator
@external("airssys:gateway/telemetry@0.1.0", "publish-json")
export declare function _publishJson(chPtr: usize, chLen: usize, jsonPtr: usize, jsonLen: usize, retptr: usize): void;
// @ts-ignore: decorator
@external("airssys:gateway/messaging@0.1.0", "send")
export declare function _send(topicPtr: usize, topicLen: usize, payloadPtr: usize, payloadLen: usize, retptr: usize): void;
// @ts-ignore: decorator
@external("airssys:gateway/host@0.1.0", "log")
export declare function _log(level: i32, ptr: usize, len: usize): void;
// @ts-ignore: decorator
@external("airssys:gateway/host@0.1.0", "now-ms")
export declare function _nowMs(): u64;
// @ts-ignore: decorator
@external("airssys:gateway/host@0.1.0", "config")
export declare function _config(keyPtr: usize, keyLen: usize, retptr: usize): void;

// @ts-ignore: decorator
@external("airssys:gateway/i2c@0.2.0", "transfer")
export declare function _i2cTransfer(bus: i32, address: i32, dataPtr: usize, dataLen: usize, readLen: u32, retptr: usize): void;
// @ts-ignore: decorator
@external("airssys:gateway/spi@0.2.0", "transfer")
export declare function _spiTransfer(bus: i32, chipSelect: i32, dataPtr: usize, dataLen: usize, retptr: usize): void;
// @ts-ignore: decorator
@external("airssys:gateway/storage@0.2.0", "get")
export declare function _storageGet(keyPtr: usize, keyLen: usize, retptr: usize): void;
// @ts-ignore: decorator
@external("airssys:gateway/storage@0.2.0", "set")
export declare function _storageSet(keyPtr: usize, keyLen: usize, valuePtr: usize, valueLen: usize, retptr: usize): void;
// @ts-ignore: decorator
@external("airssys:gateway/storage@0.2.0", "delete")
export declare function _storageDelete(keyPtr: usize, keyLen: usize, retptr: usize): void;
// @ts-ignore: decorator
@external("airssys:gateway/storage@0.2.0", "list-keys")
export declare function _storageListKeys(prefixPtr: usize, prefixLen: usize, retptr: usize): void;

// ---- static areas ------------------------------------------------------------------------------

/** Where imports write their results (result<_, host-error> needs 16 bytes, align 4). */
export const IMPORT_RET: usize = memory.data(16, 8);
/** Where exports leave result<_, string> for the host (12 bytes, align 4). */
const EXPORT_RET: usize = memory.data(16, 8);
/** Returned for zero-size allocations: never freed, never written. */
const EMPTY: usize = memory.data(16, 16);

// ---- cabi_realloc ------------------------------------------------------------------------------

/** The canonical ABI allocator. TLSF blocks are 16-byte aligned, which covers every align <= 16. */
export function cabi_realloc(oldPtr: usize, oldSize: usize, align: usize, newSize: usize): usize {
  if (align > 16) unreachable();
  if (newSize == 0) {
    if (oldPtr != 0 && oldSize != 0 && oldPtr != EMPTY) heap.free(oldPtr);
    return EMPTY;
  }
  if (oldPtr == 0 || oldSize == 0 || oldPtr == EMPTY) return heap.alloc(newSize);
  return heap.realloc(oldPtr, newSize);
}

/** Frees a block the host allocated for a value of `len` bytes (empty strings are never allocated). */
export function freeHostBlock(ptr: usize, len: usize): void {
  if (len != 0 && ptr != 0 && ptr != EMPTY) heap.free(ptr);
}

// ---- strings and bytes -------------------------------------------------------------------------

// One reusable raw buffer for UTF-8 arguments to host calls: no GC allocation per call.
let scratch: usize = 0;
let scratchCap: usize = 0;

function ensureScratch(size: usize): usize {
  if (size > scratchCap) {
    const cap = max<usize>(size, 256);
    scratch = scratch == 0 ? heap.alloc(cap) : heap.realloc(scratch, cap);
    scratchCap = cap;
  }
  return scratch;
}

/** Encodes one string into scratch: returns its length; the pointer is `scratchPtr()`. */
export function encode1(s: string): usize {
  const buf = ensureScratch(<usize>s.length * 3);
  return String.UTF8.encodeUnsafe(changetype<usize>(s), s.length, buf, false, String.UTF8.ErrorMode.REPLACE);
}

/** Encodes two strings back to back into scratch; the second starts at scratchPtr() + len1. */
export function encode2(a: string, b: string): u64 {
  const buf = ensureScratch((<usize>a.length + <usize>b.length) * 3);
  const la = String.UTF8.encodeUnsafe(changetype<usize>(a), a.length, buf, false, String.UTF8.ErrorMode.REPLACE);
  const lb = String.UTF8.encodeUnsafe(changetype<usize>(b), b.length, buf + la, false, String.UTF8.ErrorMode.REPLACE);
  return (<u64>la << 32) | <u64>lb;
}

export function scratchPtr(): usize {
  return scratch;
}

/** Decodes a UTF-8 string the host allocated and frees its block. */
export function takeHostString(ptr: usize, len: usize): string {
  const s = len == 0 ? "" : String.UTF8.decodeUnsafe(ptr, len);
  freeHostBlock(ptr, len);
  return s;
}

/**
 * Takes a list<string> the host allocated (a block of (ptr, len) pairs, each string its own block):
 * decodes every string and frees every block.
 */
export function takeHostStrings(ptr: usize, len: usize): Array<string> {
  const out = new Array<string>(<i32>len);
  for (let i: usize = 0; i < len; i++) {
    out[<i32>i] = takeHostString(<usize>load<u32>(ptr + i * 8), <usize>load<u32>(ptr + i * 8, 4));
  }
  if (len != 0) freeHostBlock(ptr, len * 8);
  return out;
}

/** Copies a list<u8> the host allocated into a Uint8Array and frees its block. */
export function takeHostBytes(ptr: usize, len: usize): Uint8Array {
  const out = new Uint8Array(<i32>len);
  if (len != 0) memory.copy(out.dataStart, ptr, len);
  freeHostBlock(ptr, len);
  return out;
}

// ---- export results ----------------------------------------------------------------------------

let pendingErr: usize = 0;

/** Called first by every export: frees what the previous export left for the host. */
export function beginExport(): void {
  if (pendingErr != 0) {
    heap.free(pendingErr);
    pendingErr = 0;
  }
}

/** Writes ok into the export return area. */
export function returnOk(): usize {
  store<u8>(EXPORT_RET, 0);
  return EXPORT_RET;
}

/** Writes err(message) into the export return area; the text lives until post-return. */
export function returnErr(message: string): usize {
  const cap = <usize>message.length * 3;
  const buf = heap.alloc(max<usize>(cap, 1));
  const len = String.UTF8.encodeUnsafe(changetype<usize>(message), message.length, buf, false, String.UTF8.ErrorMode.REPLACE);
  pendingErr = buf;
  store<u8>(EXPORT_RET, 1);
  store<u32>(EXPORT_RET, <u32>buf, 4);
  store<u32>(EXPORT_RET, <u32>len, 8);
  return EXPORT_RET;
}

/** cabi_post_<export>: the host has read the result, the error text can go. */
export function postReturn(_ret: usize): void {
  beginExport();
}

// ---- runtime hooks (--use abort=..., trace=..., seed=...) ---------------------------------------
// AssemblyScript would otherwise import env.abort / env.trace / env.seed, which the gateway refuses.

function logRaw(level: i32, s: string): void {
  const len = encode1(s);
  _log(level, scratch, len);
}

export function sdkAbort(message: string | null, fileName: string | null, line: u32, column: u32): void {
  const m = message !== null ? message : "abort";
  const f = fileName !== null ? fileName : "?";
  logRaw(4, "abort: " + m + " at " + f + ":" + line.toString() + ":" + column.toString());
  unreachable();
}

export function sdkTrace(message: string, n: i32 = 0, a0: f64 = 0, a1: f64 = 0, a2: f64 = 0, a3: f64 = 0, a4: f64 = 0): void {
  let s = message;
  if (n > 0) s += " " + a0.toString();
  if (n > 1) s += " " + a1.toString();
  if (n > 2) s += " " + a2.toString();
  if (n > 3) s += " " + a3.toString();
  if (n > 4) s += " " + a4.toString();
  logRaw(0, s);
}

/** Math.random's seed: the host clock (components needing real randomness should ask for it). */
export function sdkSeed(): f64 {
  return <f64>_nowMs();
}
