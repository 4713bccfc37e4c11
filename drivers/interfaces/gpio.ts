import { gpio as descriptor } from '../../runtime/interfaces/gpio.js';
import { hasPin, isObj, keys, pinSet, type PinSet } from '../policy/policy-parts.js';
import { driver } from './context.js';

/** Role part: `gpio: { read: [17, 27], write: [22], watch: [4] }` (pins or "*"; read also covers watch). */
export interface GpioRole {
  read: PinSet;
  write: PinSet;
  watch: PinSet;
}

/** gpio.read / gpio.write on the board's lines, within the grant's pin maps. */
export const gpio = driver<'gpioRead' | 'gpioWrite', GpioRole>({
  descriptor,
  policy: {
    key: 'gpio',
    parse(v, path, err) {
      if (v === undefined) return { read: pinSet(undefined, '', err), write: pinSet(undefined, '', err), watch: pinSet(undefined, '', err) };
      if (!isObj(v)) throw err(path, 'expected a mapping', 'use keys read, write, watch');
      keys(v, path, ['read', 'write', 'watch'], err);
      return { read: pinSet(v.read, `${path}.read`, err), write: pinSet(v.write, `${path}.write`, err), watch: pinSet(v.watch, `${path}.watch`, err) };
    },
    check(manifest, roles, who, by) {
      const out: string[] = [];
      const caps = manifest.capabilities.gpio;
      for (const pin of caps.read) if (!roles.some((r) => hasPin(r.read, pin))) out.push(`${who}: gpio.read pin ${pin} is not granted by ${by}`);
      for (const pin of caps.write) if (!roles.some((r) => hasPin(r.write, pin))) out.push(`${who}: gpio.write pin ${pin} is not granted by ${by}`);
      for (const w of caps.watch) {
        if (!roles.some((r) => hasPin(r.watch, w.pin) || hasPin(r.read, w.pin))) out.push(`${who}: gpio.watch pin ${w.pin} is not granted by ${by}`);
      }
      return out;
    },
  },
  implement(ctx) {
    const { grant, board, metrics: m, invalid, deny, limited, failed } = ctx;
    const bucket = ctx.limiter.gpio;
    const lines = board.gpio;
    const pinMin = lines.pins.min;
    const pinMax = lines.pins.max;
    const readable = grant.gpioRead;
    const writable = grant.gpioWrite;
    const checkPin = (pin: number): void => {
      // `pin` comes from a u32; still guard NaN/fractions in case a caller bypasses the WIT glue.
      if (!(pin >= pinMin && pin <= pinMax) || Math.floor(pin) !== pin) invalid(`pin ${pin} is outside the ${board.kind} board (${pinMin}-${pinMax})`);
    };
    return {
      gpioRead(pin: number): boolean {
        if (!(pin >= pinMin && pin <= pinMax) || Math.floor(pin) !== pin) checkPin(pin);
        if (readable[pin] !== 1) deny('gpio.read', `pin ${pin}`, `gpio.read pin ${pin}`);
        if (bucket !== undefined && !bucket.take()) limited('gpio');
        m.gpio++;
        try {
          return lines.read(pin);
        } catch (err) {
          return failed(err, `gpio.read pin ${pin}`);
        }
      },
      gpioWrite(pin: number, value: boolean): void {
        checkPin(pin);
        if (writable[pin] !== 1) deny('gpio.write', `pin ${pin}`, `gpio.write pin ${pin}`);
        if (typeof value !== 'boolean') invalid(`gpio value must be a boolean, got ${typeof value}`);
        if (bucket !== undefined && !bucket.take()) limited('gpio');
        m.gpio++;
        try {
          lines.write(pin, value);
        } catch (err) {
          failed(err, `gpio.write pin ${pin}`);
        }
      },
    };
  },
});
