import { fn, iface } from './descriptor.js';

/** `airssys:gateway/serial`: writes to a granted port (frames arrive as on-serial events). */
export const serial = iface({
  name: 'serial',
  worlds: ['0.1.0', '0.2.0'],
  rateClasses: [{ name: 'serial', rate: 1_000, burst: 2_000 }],
  functions: [
    fn({ wit: 'write', method: 'serialWrite', params: [{ name: 'port', type: 'string' }, { name: 'data', type: 'bytes' }], result: 'u32', fallible: true, charge: 'sink', rate: 'serial' }),
  ],
});
