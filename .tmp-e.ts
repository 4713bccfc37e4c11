import { HostCallError } from './runtime/errors.js';
function t(label: string, f: () => void, n = 100000) { for (let i=0;i<n;i++) f(); const t0 = process.hrtime.bigint(); for (let i=0;i<n;i++) f(); console.log(label, Number(process.hrtime.bigint()-t0)/n, 'ns'); }
t('new HostCallError', () => { new HostCallError('invalid', 'x'); });
t('throw/catch HostCallError', () => { try { throw new HostCallError('invalid', 'x'); } catch {} });
t('stackTraceLimit=0', () => { const l = Error.stackTraceLimit; Error.stackTraceLimit = 0; try { throw new HostCallError('invalid', 'x'); } catch {} finally { Error.stackTraceLimit = l; } });
t('plain Error', () => { try { throw new Error('x'); } catch {} });
