import { buildWat } from '../../runtime/build/wat.js';
import { OK, strings } from './sensor-wat.js';
import { sensorWatV2 } from './sensor-wat-v2.js';

/**
 * A 0.2.0 component keeping a counter in storage, built from WAT at test time.
 *
 * - on-tick: reads key `count` (4 bytes little-endian, absent = 0), adds 1, sets it, publishes
 *   `count` = the new value; when the set fails it publishes `err` = 100 + the host-error case
 *   (100 denied, 101 invalid, 102 io, 103 limited) instead. When the new value equals the
 *   manifest's config `trap-at` (a digit 1-9) it traps right after the set: a crash after a write.
 * - on-message: deletes `count` and publishes `deleted` = 1 if it existed (0 if not), then publishes `keys` =
 *   the number of keys list-keys("") returns.
 */
export const STORAGE_STRINGS = { count: 'count', err: 'err', deleted: 'deleted', keys: 'keys', trapAt: 'trap-at' };
const T = strings(STORAGE_STRINGS);
const str = (n: keyof typeof STORAGE_STRINGS) => `i32.const ${T.ptr(n)} i32.const ${T.len(n)}`;
const publish = (n: keyof typeof STORAGE_STRINGS, value: string) => `${str(n)} ${value} i32.const 32 call $publish`;

/**
 * WAT (an export's body, after its locals): adds `step` to the 4-byte little-endian counter under
 * storage key `count` (absent or unreadable = 0) and sets it. Leaves the new value in `$n` (the
 * caller declares `(local $n i32)`) and set's result at 16 (tag u8: 0 ok, else the host-error case
 * at 20); uses 16..31 and 64..67. `key` pushes the key's ptr and len from the caller's string table.
 * Shared with the OTA tests' `meter` 0.2.0 build (test/ota-e2e/storage-meter.ts).
 */
export function countStepWat(key: string, step: number): string {
  return `
      ;; get("count") → [tag @16, some @20, ptr @24, len @28]
      ${key} i32.const 16 call $storage_get
      i32.const 16 i32.load8_u i32.eqz
      if
        i32.const 20 i32.load8_u
        if
          i32.const 24 i32.load i32.load local.set $n
        end
      end
      local.get $n i32.const ${step} i32.add local.set $n
      i32.const 64 local.get $n i32.store
      ${key} i32.const 64 i32.const 4 i32.const 16 call $storage_set`;
}

export function storageCounterWat(): string {
  return sensorWatV2({
    v2: ['storage'],
    strings: STORAGE_STRINGS,
    extra: '(global $trap (mut i32) (i32.const -1))',
    init: `
      ;; config("trap-at") → option<string> at 16: [some u8 @16, ptr @20, len @24]
      ${str('trapAt')} i32.const 16 call $config
      i32.const 16 i32.load8_u
      if
        i32.const 20 i32.load i32.load8_u i32.const 48 i32.sub global.set $trap
      end
      ${OK}`,
    onTick: `
      (local $n i32)
      ${countStepWat(str('count'), 1)}
      i32.const 16 i32.load8_u
      if
        ${publish('err', 'i32.const 20 i32.load8_u f64.convert_i32_u f64.const 100 f64.add')}
      else
        local.get $n global.get $trap i32.eq
        if unreachable end
        ${publish('count', 'local.get $n f64.convert_i32_u')}
      end
      ${OK}`,
    onMessage: `
      ;; delete("count") → [tag @16, bool @20] (the payload is aligned to host-error's 4)
      ${str('count')} i32.const 16 call $storage_delete
      ${publish('deleted', 'i32.const 20 i32.load8_u f64.convert_i32_u')}
      ;; list-keys("") → [tag @16, ptr @20, len @24]
      i32.const 0 i32.const 0 i32.const 16 call $storage_list_keys
      ${publish('keys', 'i32.const 24 i32.load f64.convert_i32_u')}
      ${OK}`,
  });
}

export function storageCounter(): Promise<Uint8Array> {
  return buildWat(storageCounterWat());
}
