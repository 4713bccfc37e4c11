import { serial as descriptor } from '../../runtime/interfaces/serial.js';
import { nameMatches, strings } from '../policy/policy-parts.js';
import { MAX_SERIAL_WRITE_BYTES, type SerialLink } from '../serial/types.js';
import { driver } from './context.js';

/** serial.write to a granted, open port. Role part: `serial: ["/dev/ttyUSB0", "/dev/ttyACM*"]`. */
export const serial = driver<'serialWrite', string[]>({
  descriptor,
  policy: {
    key: 'serial',
    parse: (v, path, err) => strings(v, path, err),
    check(manifest, roles, who, by) {
      const out: string[] = [];
      for (const s of manifest.capabilities.serial) {
        if (!roles.some((r) => r.some((p) => nameMatches(p, s.port)))) out.push(`${who}: serial port ${s.port} is not granted by ${by}`);
      }
      return out;
    },
  },
  implement(ctx) {
    const { grant, board, metrics: m, invalid, deny, limited, failed } = ctx;
    const bucket = ctx.limiter.serial;
    return {
      serialWrite(port: string, data: Uint8Array): number {
        if (typeof port !== 'string' || port.length === 0 || port.length > 256) invalid(`serial port ${JSON.stringify(port)} is not a port path`);
        if (!(data instanceof Uint8Array)) invalid('serial data must be bytes');
        if (!grant.serial.has(port)) deny('serial.write', port, `serial port ${port}`);
        if (data.length > MAX_SERIAL_WRITE_BYTES) invalid(`serial write of ${data.length} bytes exceeds ${MAX_SERIAL_WRITE_BYTES}; split it`);
        if (bucket !== undefined && !bucket.take()) limited('serial');
        m.serial++;
        const link: SerialLink | undefined = ctx.devices()?.serial.get(port) ?? board.serial.get(port);
        if (!link) return invalid(`serial port ${port} is not open`);
        if (data.length === 0) return 0;
        try {
          return link.write(data);
        } catch (err) {
          return failed(err, `serial.write ${port}`);
        }
      },
    };
  },
});
