import { fn, iface } from './descriptor.js';

/** `airssys:gateway/i2c` (0.2.0): one write-then-read transaction with a granted bus+address. */
export const i2c = iface({
  name: 'i2c',
  worlds: ['0.2.0'],
  rateClasses: [{ name: 'i2c', rate: 10_000, burst: 20_000 }],
  functions: [
    fn({
      wit: 'transfer',
      method: 'i2cTransfer',
      params: [{ name: 'bus', type: 'u8' }, { name: 'address', type: 'u16' }, { name: 'data', type: 'bytes' }, { name: 'read-len', type: 'u32' }],
      result: 'bytes',
      fallible: true,
      charge: 'base',
      rate: 'i2c',
    }),
  ],
});
