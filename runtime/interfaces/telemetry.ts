import { fn, iface } from './descriptor.js';

/** `airssys:gateway/telemetry`: samples on granted channels, to the outbox and MQTT. */
export const telemetry = iface({
  name: 'telemetry',
  worlds: ['0.1.0', '0.2.0'],
  rateClasses: [{ name: 'telemetry', rate: 100, burst: 200 }],
  functions: [
    fn({ wit: 'publish', method: 'publish', params: [{ name: 'channel', type: 'string' }, { name: 'value', type: 'f64' }], result: 'void', fallible: true, charge: 'sink', rate: 'telemetry' }),
    fn({ wit: 'publish-json', method: 'publishJson', params: [{ name: 'channel', type: 'string' }, { name: 'json', type: 'string' }], result: 'void', fallible: true, charge: 'sink', rate: 'telemetry' }),
  ],
});
