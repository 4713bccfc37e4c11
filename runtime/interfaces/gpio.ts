import { fn, iface } from './descriptor.js';

/** `airssys:gateway/gpio`: BCM lines, read and write (watches arrive as on-gpio events). */
export const gpio = iface({
  name: 'gpio',
  worlds: ['0.1.0', '0.2.0'],
  rateClasses: [{ name: 'gpio', rate: 10_000, burst: 20_000 }],
  functions: [
    fn({ wit: 'read', method: 'gpioRead', params: [{ name: 'pin', type: 'u32' }], result: 'bool', fallible: true, charge: 'base', rate: 'gpio' }),
    fn({ wit: 'write', method: 'gpioWrite', params: [{ name: 'pin', type: 'u32' }, { name: 'value', type: 'bool' }], result: 'void', fallible: true, charge: 'base', rate: 'gpio' }),
  ],
});
