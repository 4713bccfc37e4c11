/**
 * Writes the WAT for a test component of the sensor world: every world import declared with its
 * canonical-ABI core signature, a bump allocator for `cabi_realloc`, and default export bodies that
 * return ok. A test overrides only the bodies it cares about, so each fixture reads as the
 * behaviour under test (an infinite loop, a trap, a hostile pointer) rather than ABI plumbing.
 *
 * Memory map: 0..16 export return area, 16..64 import return area, 64..1024 free, 1024.. strings
 * from `data`, heap from 4096 (or `heapStart`).
 */
export interface SensorWatOptions {
  /** Extra module-level fields: globals, data segments, helper functions. */
  extra?: string;
  /** `(data (i32.const 1024) "...")` strings, placed from offset 1024, keyed by name. Use strAt(name). */
  strings?: Record<string, string>;
  init?: string;
  onTick?: string;
  onGpio?: string;
  onSerial?: string;
  onMessage?: string;
  memoryPages?: number;
  memoryMaxPages?: number;
  /** Import only these interfaces (default: all). */
  only?: ('gpio' | 'serial' | 'telemetry' | 'messaging' | 'host')[];
}

const IMPORTS: Record<string, string[]> = {
  gpio: [
    '(import "airssys:gateway/gpio@0.1.0" "read" (func $gpio_read (param i32 i32)))',
    '(import "airssys:gateway/gpio@0.1.0" "write" (func $gpio_write (param i32 i32 i32)))',
  ],
  serial: ['(import "airssys:gateway/serial@0.1.0" "write" (func $serial_write (param i32 i32 i32 i32 i32)))'],
  telemetry: [
    '(import "airssys:gateway/telemetry@0.1.0" "publish" (func $publish (param i32 i32 f64 i32)))',
    '(import "airssys:gateway/telemetry@0.1.0" "publish-json" (func $publish_json (param i32 i32 i32 i32 i32)))',
  ],
  messaging: ['(import "airssys:gateway/messaging@0.1.0" "send" (func $send (param i32 i32 i32 i32 i32)))'],
  host: [
    '(import "airssys:gateway/host@0.1.0" "log" (func $log (param i32 i32 i32)))',
    '(import "airssys:gateway/host@0.1.0" "now-ms" (func $now_ms (result i64)))',
    '(import "airssys:gateway/host@0.1.0" "config" (func $config (param i32 i32 i32)))',
  ],
};

/** Return ok(()) from an export: discriminant 0 in the return area at 0. */
export const OK = 'i32.const 0 i32.const 0 i32.store8 i32.const 0';

/** Return err(message) from an export; `msg` must be one of the strings. */
export function errWith(ptr: number, len: number): string {
  return `i32.const 0 i32.const 1 i32.store8 i32.const 4 i32.const ${ptr} i32.store i32.const 8 i32.const ${len} i32.store i32.const 0`;
}

export interface StringTable {
  ptr(name: string): number;
  len(name: string): number;
}

export function layoutStrings(strings: Record<string, string>): { table: StringTable; data: string } {
  let offset = 1024;
  const at = new Map<string, [number, number]>();
  const segments: string[] = [];
  for (const [name, text] of Object.entries(strings)) {
    const bytes = Buffer.from(text, 'utf8');
    at.set(name, [offset, bytes.length]);
    const escaped = [...bytes].map((b) => '\\' + b.toString(16).padStart(2, '0')).join('');
    segments.push(`(data (i32.const ${offset}) "${escaped}")`);
    offset += bytes.length + (8 - (bytes.length % 8));
  }
  const get = (name: string) => {
    const v = at.get(name);
    if (!v) throw new Error(`no string ${name}`);
    return v;
  };
  return { table: { ptr: (n) => get(n)[0], len: (n) => get(n)[1] }, data: segments.join('\n  ') };
}

export function sensorWat(opts: SensorWatOptions = {}): string {
  const only = opts.only ?? ['gpio', 'serial', 'telemetry', 'messaging', 'host'];
  const { data } = layoutStrings(opts.strings ?? {});
  const pages = opts.memoryPages ?? 1;
  const max = opts.memoryMaxPages === undefined ? '' : ` ${opts.memoryMaxPages}`;
  return `(module
  ${only.flatMap((i) => IMPORTS[i]!).join('\n  ')}
  (memory (export "memory") ${pages}${max})
  (global $heap (mut i32) (i32.const ${Math.max(4096, pages > 1 ? 4096 : 4096)}))
  ${data}
  ${opts.extra ?? ''}
  ;; Bump allocator: never frees; grows memory when the heap passes its end.
  (func $realloc (export "cabi_realloc") (param $old i32) (param $oldsize i32) (param $align i32) (param $size i32) (result i32)
    (local $p i32) (local $end i32)
    global.get $heap local.get $align i32.const 1 i32.sub i32.add
    i32.const 0 local.get $align i32.sub i32.and local.set $p
    local.get $p local.get $size i32.add local.set $end
    block $ok
      local.get $end memory.size i32.const 16 i32.shl i32.le_u br_if $ok
      local.get $end memory.size i32.const 16 i32.shl i32.sub i32.const 65535 i32.add i32.const 16 i32.shr_u
      memory.grow i32.const -1 i32.ne br_if $ok
      unreachable
    end
    local.get $end global.set $heap
    local.get $p)
  (func (export "init") (result i32) ${opts.init ?? OK})
  (func (export "on-tick") (param $now i64) (result i32) ${opts.onTick ?? OK})
  (func (export "on-gpio") (param $pin i32) (param $value i32) (param $at i64) (result i32) ${opts.onGpio ?? OK})
  (func (export "on-serial") (param $pp i32) (param $pl i32) (param $dp i32) (param $dl i32) (result i32) ${opts.onSerial ?? OK})
  (func (export "on-message") (param $tp i32) (param $tl i32) (param $dp i32) (param $dl i32) (result i32) ${opts.onMessage ?? OK})
)`;
}

/** A string table for opts.strings, to compute pointers in bodies before calling sensorWat. */
export function strings(map: Record<string, string>): StringTable {
  return layoutStrings(map).table;
}
