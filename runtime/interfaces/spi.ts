import { fn, iface } from './descriptor.js';

/** `airssys:gateway/spi` (0.2.0): one full-duplex transfer on a granted bus+chip-select. */
export const spi = iface({
  name: 'spi',
  worlds: ['0.2.0'],
  rateClasses: [{ name: 'spi', rate: 10_000, burst: 20_000 }],
  functions: [
    fn({
      wit: 'transfer',
      method: 'spiTransfer',
      params: [{ name: 'bus', type: 'u8' }, { name: 'chip-select', type: 'u8' }, { name: 'data', type: 'bytes' }],
      result: 'bytes',
      fallible: true,
      charge: 'base',
      rate: 'spi',
    }),
  ],
});
