import { fn, iface } from './descriptor.js';

/** `airssys:gateway/host`: log, clock, config. No error channel: refusals are silent. */
export const host = iface({
  name: 'host',
  worlds: ['0.1.0', '0.2.0'],
  rateClasses: [{ name: 'log', rate: 100, burst: 200 }],
  functions: [
    fn({ wit: 'log', method: 'log', params: [{ name: 'level', type: 'log-level' }, { name: 'message', type: 'string' }], result: 'void', fallible: false, charge: 'sink', rate: 'log', overflow: 'truncate-last' }),
    fn({ wit: 'now-ms', method: 'nowMs', params: [], result: 'u64', fallible: false, charge: 'base' }),
    fn({ wit: 'config', method: 'config', params: [{ name: 'key', type: 'string' }], result: 'option<string>', fallible: false, charge: 'base', overflow: 'undefined' }),
  ],
});
