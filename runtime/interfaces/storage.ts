import { fn, iface } from './descriptor.js';

/**
 * `airssys:gateway/storage` (0.2.0): one key-value bucket per component name. Calls only touch the
 * in-memory bucket (durability is the store's coalesced flush), so they pay the base fuel and share
 * one rate class.
 */
export const storage = iface({
  name: 'storage',
  worlds: ['0.2.0'],
  rateClasses: [{ name: 'storage', rate: 10_000, burst: 20_000 }],
  functions: [
    fn({ wit: 'get', method: 'storageGet', params: [{ name: 'key', type: 'string' }], result: 'option<bytes>', fallible: true, charge: 'base', rate: 'storage' }),
    fn({ wit: 'set', method: 'storageSet', params: [{ name: 'key', type: 'string' }, { name: 'value', type: 'bytes' }], result: 'void', fallible: true, charge: 'base', rate: 'storage' }),
    fn({ wit: 'delete', method: 'storageDelete', params: [{ name: 'key', type: 'string' }], result: 'bool', fallible: true, charge: 'base', rate: 'storage' }),
    fn({ wit: 'list-keys', method: 'storageListKeys', params: [{ name: 'prefix', type: 'string' }], result: 'list<string>', fallible: true, charge: 'base', rate: 'storage' }),
  ],
});
