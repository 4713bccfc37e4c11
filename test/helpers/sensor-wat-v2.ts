import { sensorWat, type SensorWatOptions } from './sensor-wat.js';

/**
 * The WAT of a test component of `airssys:gateway/sensor@0.2.0`: sensorWat's module with every
 * import moved to @0.2.0, plus the 0.2.0-only interfaces (`v2`, default all three), each with its
 * canonical-ABI core signature written out by hand:
 *
 *   $i2c_transfer (bus u8, address u16, data ptr len, read-len u32, retptr)
 *   $spi_transfer (bus u8, chip-select u8, data ptr len, retptr)
 *   $storage_get (key ptr len, retptr) → [tag u8 @0, some u8 @4, ptr @8, len @12] or err at @4
 *   $storage_set (key ptr len, value ptr len, retptr)
 *   $storage_delete (key ptr len, retptr) → [tag u8 @0, bool u8 @4]
 *   $storage_list_keys (prefix ptr len, retptr) → [tag u8 @0, list ptr @4, len @8]
 */
export interface SensorWatV2Options extends SensorWatOptions {
  v2?: ('i2c' | 'spi' | 'storage')[];
}

const V2_IMPORTS: Record<string, string[]> = {
  i2c: ['(import "airssys:gateway/i2c@0.2.0" "transfer" (func $i2c_transfer (param i32 i32 i32 i32 i32 i32)))'],
  spi: ['(import "airssys:gateway/spi@0.2.0" "transfer" (func $spi_transfer (param i32 i32 i32 i32 i32)))'],
  storage: [
    '(import "airssys:gateway/storage@0.2.0" "get" (func $storage_get (param i32 i32 i32)))',
    '(import "airssys:gateway/storage@0.2.0" "set" (func $storage_set (param i32 i32 i32 i32 i32)))',
    '(import "airssys:gateway/storage@0.2.0" "delete" (func $storage_delete (param i32 i32 i32)))',
    '(import "airssys:gateway/storage@0.2.0" "list-keys" (func $storage_list_keys (param i32 i32 i32)))',
  ],
};

export function sensorWatV2(opts: SensorWatV2Options = {}): string {
  const base = sensorWat(opts).replaceAll('@0.1.0"', '@0.2.0"');
  const extra = (opts.v2 ?? ['storage']).flatMap((i) => V2_IMPORTS[i]!).join('\n  ');
  // Imports must precede the module's definitions: put them right after `(module`.
  return base.replace('(module\n', `(module\n  ${extra}\n`);
}
