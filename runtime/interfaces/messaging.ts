import { fn, iface } from './descriptor.js';

/** `airssys:gateway/messaging`: MQTT messages on granted topics. */
export const messaging = iface({
  name: 'messaging',
  worlds: ['0.1.0', '0.2.0'],
  rateClasses: [{ name: 'messaging', rate: 50, burst: 100 }],
  functions: [
    fn({ wit: 'send', method: 'send', params: [{ name: 'topic', type: 'string' }, { name: 'payload', type: 'bytes' }], result: 'void', fallible: true, charge: 'sink', rate: 'messaging' }),
  ],
});
