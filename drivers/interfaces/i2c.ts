import { echo } from '../../runtime/echo.js';
import { i2c as descriptor } from '../../runtime/interfaces/i2c.js';
import { hex2, parseI2cAddress } from '../../runtime/manifest.js';
import { MAX_BUS_TRANSFER_BYTES } from '../bus/types.js';
import { arr, isObj, keys } from '../policy/policy-parts.js';
import { busKey } from '../policy/grant.js';
import { driver } from './context.js';

/** Role part: `i2c: [{ bus: 1, address: 0x76 }]`; `address: "*"` allows any address on the bus. */
export interface I2cRoleEntry {
  bus: number;
  address: number | '*';
}

/**
 * i2c.transfer (contract 7.1): 7-bit addresses 0x03-0x77 and at most 4096 bytes each way, else
 * `invalid`; a bus+address outside the grant `denied`; no acknowledge `absent` (from the board).
 */
export const i2c = driver<'i2cTransfer', I2cRoleEntry[]>({
  descriptor,
  policy: {
    key: 'i2c',
    parse(v, path, err) {
      return arr(v, path, err).map((e, i) => {
        const p = `${path}[${i}]`;
        if (!isObj(e)) throw err(p, 'expected { bus, address }', 'write e.g. { bus: 1, address: 0x76 }');
        keys(e, p, ['bus', 'address'], err);
        if (typeof e.bus !== 'number' || !Number.isInteger(e.bus) || e.bus < 0 || e.bus > 255) throw err(`${p}.bus`, `expected a bus number 0-255, got ${echo(e.bus)}`, 'write e.g. bus: 1');
        if (e.address === '*') return { bus: e.bus, address: '*' as const };
        const address = parseI2cAddress(e.address);
        if (address === undefined || address < 0x03 || address > 0x77) throw err(`${p}.address`, `expected a 7-bit address 0x03-0x77 or "*", got ${echo(e.address)}`, 'write it as 0x76 or "0x76"');
        return { bus: e.bus, address };
      });
    },
    check(manifest, roles, who, by) {
      const out: string[] = [];
      for (const d of manifest.capabilities.i2c ?? []) {
        if (!roles.some((r) => r.some((e) => e.bus === d.bus && (e.address === '*' || e.address === d.address)))) out.push(`${who}: i2c bus ${d.bus} address ${hex2(d.address)} is not granted by ${by}`);
      }
      return out;
    },
  },
  implement(ctx) {
    const { grant, board, metrics: m, invalid, deny, limited, failed } = ctx;
    const bucket = ctx.limiter.i2c;
    return {
      i2cTransfer(bus: number, address: number, data: Uint8Array, readLen: number): Uint8Array {
        if (!(address >= 0x03 && address <= 0x77) || Math.floor(address) !== address) invalid(`i2c address ${hex2(address)} is not a 7-bit device address (0x03-0x77)`);
        if (!(data instanceof Uint8Array)) invalid('i2c data must be bytes');
        if (data.length > MAX_BUS_TRANSFER_BYTES) invalid(`i2c write of ${data.length} bytes exceeds ${MAX_BUS_TRANSFER_BYTES}; split it`);
        if (!(readLen >= 0 && readLen <= MAX_BUS_TRANSFER_BYTES)) invalid(`i2c read of ${readLen} bytes exceeds ${MAX_BUS_TRANSFER_BYTES}; split it`);
        if (!grant.i2c.has(busKey(bus, address))) deny('i2c.transfer', `bus ${bus} address ${hex2(address)}`, `i2c bus ${bus} address ${hex2(address)}`);
        if (bucket !== undefined && !bucket.take()) limited('i2c');
        m.i2c++;
        const driver = board.i2c;
        if (!driver) return invalid(`i2c is not supported on the ${board.kind} board yet`);
        try {
          // A copy: the guest's memory may change once the call returns.
          return driver.transfer(bus, address, data.slice(), readLen);
        } catch (err) {
          return failed(err, `i2c.transfer bus ${bus} address ${hex2(address)}`);
        }
      },
    };
  },
});
