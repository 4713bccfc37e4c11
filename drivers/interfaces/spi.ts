import { echo } from '../../runtime/echo.js';
import { spi as descriptor } from '../../runtime/interfaces/spi.js';
import { MAX_BUS_TRANSFER_BYTES } from '../bus/types.js';
import { arr, isObj, keys } from '../policy/policy-parts.js';
import { busKey } from '../policy/grant.js';
import { driver } from './context.js';

/** Role part: `spi: [{ bus: 0, chip-select: 0, speed-hz: 2000000 }]` (speed-hz a maximum; chip-select "*": any). */
export interface SpiRoleEntry {
  bus: number;
  chipSelect: number | '*';
  maxSpeedHz: number;
}

/**
 * spi.transfer (contract 7.1): at most 4096 bytes, else `invalid`; a bus+chip-select outside the
 * grant `denied`. Speed and mode come from the manifest's grant, never from the component.
 */
export const spi = driver<'spiTransfer', SpiRoleEntry[]>({
  descriptor,
  policy: {
    key: 'spi',
    parse(v, path, err) {
      return arr(v, path, err).map((e, i) => {
        const p = `${path}[${i}]`;
        if (!isObj(e)) throw err(p, 'expected { bus, chip-select, speed-hz }', 'write e.g. { bus: 0, chip-select: 0, speed-hz: 2000000 }');
        keys(e, p, ['bus', 'chip-select', 'speed-hz', 'mode'], err);
        const int = (x: unknown, q: string, max: number) => {
          if (typeof x !== 'number' || !Number.isInteger(x) || x < 0 || x > max) throw err(q, `expected an integer 0-${max}, got ${echo(x)}`, 'correct the number');
          return x;
        };
        return {
          bus: int(e.bus, `${p}.bus`, 255),
          chipSelect: e['chip-select'] === '*' ? ('*' as const) : int(e['chip-select'], `${p}.chip-select`, 255),
          maxSpeedHz: e['speed-hz'] === undefined ? 125_000_000 : int(e['speed-hz'], `${p}.speed-hz`, 125_000_000),
        };
      });
    },
    check(manifest, roles, who, by) {
      const out: string[] = [];
      for (const d of manifest.capabilities.spi ?? []) {
        const entries = roles.flatMap((r) => r.filter((e) => e.bus === d.bus && (e.chipSelect === '*' || e.chipSelect === d.chipSelect)));
        if (entries.length === 0) out.push(`${who}: spi bus ${d.bus} chip-select ${d.chipSelect} is not granted by ${by}`);
        else {
          const max = Math.max(...entries.map((e) => e.maxSpeedHz));
          if (d.speedHz > max) out.push(`${who}: spi bus ${d.bus} chip-select ${d.chipSelect} speed-hz ${d.speedHz} exceeds ${max} allowed by ${by}`);
        }
      }
      return out;
    },
  },
  implement(ctx) {
    const { grant, board, metrics: m, invalid, deny, limited, failed } = ctx;
    const bucket = ctx.limiter.spi;
    return {
      spiTransfer(bus: number, chipSelect: number, data: Uint8Array): Uint8Array {
        if (!(data instanceof Uint8Array)) invalid('spi data must be bytes');
        if (data.length > MAX_BUS_TRANSFER_BYTES) invalid(`spi transfer of ${data.length} bytes exceeds ${MAX_BUS_TRANSFER_BYTES}; split it`);
        const g = grant.spi.get(busKey(bus, chipSelect));
        if (!g) return deny('spi.transfer', `bus ${bus} chip-select ${chipSelect}`, `spi bus ${bus} chip-select ${chipSelect}`);
        if (bucket !== undefined && !bucket.take()) limited('spi');
        m.spi++;
        const driver = board.spi;
        if (!driver) return invalid(`spi is not supported on the ${board.kind} board yet`);
        try {
          return driver.transfer(bus, chipSelect, data.slice(), { speedHz: g.speedHz, mode: g.mode });
        } catch (err) {
          return failed(err, `spi.transfer bus ${bus} chip-select ${chipSelect}`);
        }
      },
    };
  },
});
