import { GatewayError } from '../runtime/errors.js';
import type { SimBoard } from './sim-board.js';
import { parseI2cAddress } from '../runtime/manifest.js';
import type { SimI2cSpec, SimSpiSpec } from './sim/buses.js';

/**
 * Signals for the simulated board, so the default gateway (and a demo on a laptop) shows real
 * telemetry with no hardware: square waves on GPIO inputs, and serial devices that talk the way
 * the example sensors do. Configured under `board.options.scenario`:
 *
 *   board:
 *     kind: sim
 *     options:
 *       scenario:
 *         gpio: [{ pin: 17, period-ms: 400 }]                          # a pulse train on 17
 *         serial:
 *           - { port: /dev/ttyUSB0, every-ms: 1000, device: sht31 }    # "T=21.40,H=40.1\n" lines
 *           - { port: /dev/ttyACM0, every-ms: 100, device: adc, sample-rate: 1000, hz: 50, amplitude: 3000 }
 *         i2c: [{ bus: 1, address: 0x76, device: bme280, temperature-c: 21.5, pressure-pa: 101325, humidity-pct: 40 }]
 *         spi: [{ bus: 0, chip-select: 0, device: mcp3008, channels: [512, 1023, 0, 0, 0, 0, 0, 0] }]
 */
export interface GpioSignal {
  pin: number;
  periodMs: number;
}
export interface SerialSignal {
  port: string;
  everyMs: number;
  device: 'sht31' | 'adc' | 'text';
  sampleRate: number;
  hz: number;
  amplitude: number;
  text: string;
}
export interface Scenario {
  gpio: GpioSignal[];
  serial: SerialSignal[];
  /** Simulated I2C devices (contract 7.3): `{ bus, address, device: bme280, temperature-c, pressure-pa, humidity-pct }`. */
  i2c: SimI2cSpec[];
  /** Simulated SPI devices (contract 7.3): `{ bus, chip-select, device: mcp3008, channels: [8 × 0-1023] }`. */
  spi: SimSpiSpec[];
}

const bad = (path: string, what: string) => new GatewayError('INVALID_CONFIG', `config board.options.scenario${path}: ${what}; see drivers/sim-scenario.ts for the shape`);
const num = (v: unknown, path: string, dflt: number, min: number): number => {
  if (v === undefined) return dflt;
  if (typeof v !== 'number' || !Number.isFinite(v) || v < min) throw bad(path, `expected a number ≥ ${min}, got ${JSON.stringify(v)}`);
  return v;
};

export function parseScenario(raw: unknown): Scenario {
  const out: Scenario = { gpio: [], serial: [], i2c: [], spi: [] };
  if (raw === undefined || raw === null) return out;
  if (typeof raw !== 'object' || Array.isArray(raw)) throw bad('', 'expected a mapping with gpio, serial, i2c and spi lists');
  const r = raw as Record<string, unknown>;
  const list = (key: string): unknown[] => {
    const v = r[key];
    if (v === undefined || v === null) return [];
    if (!Array.isArray(v)) throw bad(`.${key}`, 'expected a list');
    return v;
  };
  const int = (v: unknown, path: string, min: number, max: number): number => {
    if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) throw bad(path, `expected an integer from ${min} to ${max}, got ${JSON.stringify(v)}`);
    return v;
  };
  const real = (v: unknown, path: string, dflt: number, min: number, max: number): number => {
    if (v === undefined) return dflt;
    if (typeof v !== 'number' || !Number.isFinite(v) || v < min || v > max) throw bad(path, `expected a number from ${min} to ${max}, got ${JSON.stringify(v)}`);
    return v;
  };
  for (const [i, d] of list('i2c').entries()) {
    const o = (d ?? {}) as Record<string, unknown>;
    const p = `.i2c[${i}]`;
    if (o.device !== 'bme280') throw bad(`${p}.device`, `unknown device ${JSON.stringify(o.device)} (use bme280)`);
    const address = parseI2cAddress(o.address);
    if (address === undefined || address < 0x03 || address > 0x77) throw bad(`${p}.address`, `expected a 7-bit address 0x03-0x77, got ${JSON.stringify(o.address)}`);
    out.i2c.push({
      bus: int(o.bus, `${p}.bus`, 0, 255),
      address,
      device: 'bme280',
      // The BME280's operating range (datasheet section 1).
      temperatureC: real(o['temperature-c'], `${p}.temperature-c`, 21.5, -40, 85),
      pressurePa: real(o['pressure-pa'], `${p}.pressure-pa`, 101_325, 30_000, 110_000),
      humidityPct: real(o['humidity-pct'], `${p}.humidity-pct`, 40, 0, 100),
    });
  }
  for (const [i, d] of list('spi').entries()) {
    const o = (d ?? {}) as Record<string, unknown>;
    const p = `.spi[${i}]`;
    if (o.device !== 'mcp3008') throw bad(`${p}.device`, `unknown device ${JSON.stringify(o.device)} (use mcp3008)`);
    const channels = o.channels === undefined ? [] : o.channels;
    if (!Array.isArray(channels) || channels.length > 8) throw bad(`${p}.channels`, 'expected a list of at most 8 readings 0-1023');
    out.spi.push({
      bus: int(o.bus, `${p}.bus`, 0, 255),
      chipSelect: int(o['chip-select'], `${p}.chip-select`, 0, 255),
      device: 'mcp3008',
      channels: channels.map((c, j) => int(c, `${p}.channels[${j}]`, 0, 1023)),
    });
  }
  for (const [i, g] of ((r.gpio as unknown[]) ?? []).entries()) {
    const o = (g ?? {}) as Record<string, unknown>;
    out.gpio.push({ pin: num(o.pin, `.gpio[${i}].pin`, -1, 0), periodMs: num(o['period-ms'], `.gpio[${i}].period-ms`, 1000, 2) });
  }
  for (const [i, s] of ((r.serial as unknown[]) ?? []).entries()) {
    const o = (s ?? {}) as Record<string, unknown>;
    if (typeof o.port !== 'string') throw bad(`.serial[${i}].port`, 'expected a port path');
    const device = o.device ?? 'text';
    if (device !== 'sht31' && device !== 'adc' && device !== 'text') throw bad(`.serial[${i}].device`, `unknown device ${JSON.stringify(device)} (use sht31, adc or text)`);
    out.serial.push({
      port: o.port,
      everyMs: num(o['every-ms'], `.serial[${i}].every-ms`, 1000, 1),
      device,
      sampleRate: num(o['sample-rate'], `.serial[${i}].sample-rate`, 1000, 1),
      hz: num(o.hz, `.serial[${i}].hz`, 50, 0),
      amplitude: num(o.amplitude, `.serial[${i}].amplitude`, 3000, 0),
      text: typeof o.text === 'string' ? o.text : 'hello\n',
    });
  }
  return out;
}

/** Starts the signals; returns a function that stops them. */
export function runScenario(board: SimBoard, scenario: Scenario, now: () => number = Date.now): () => void {
  const timers: NodeJS.Timeout[] = [];
  const every = (ms: number, fn: () => void) => {
    const t = setInterval(() => {
      try {
        fn();
      } catch {
        // A port not opened yet, or closed: the bytes are lost, as on a wire.
      }
    }, ms);
    t.unref?.();
    timers.push(t);
  };
  for (const g of scenario.gpio) {
    let level = false;
    every(g.periodMs / 2, () => board.sim.gpio.setInput(g.pin, (level = !level), now()));
  }
  for (const s of scenario.serial) {
    if (!board.sim.serial.knows(s.port)) board.sim.serial.addDevice(s.port);
    const t0 = now();
    let sampleIndex = 0;
    every(s.everyMs, () => {
      const t = (now() - t0) / 1000;
      if (s.device === 'sht31') {
        // A room drifting around 21 °C over ten minutes, humidity moving the other way.
        const temp = 21 + 1.5 * Math.sin((2 * Math.PI * t) / 600) + (Math.random() - 0.5) * 0.1;
        const hum = 45 - 5 * Math.sin((2 * Math.PI * t) / 600) + (Math.random() - 0.5) * 0.5;
        board.sim.serial.push(s.port, `T=${temp.toFixed(2)},H=${hum.toFixed(1)}\n`);
      } else if (s.device === 'adc') {
        // int16 LE samples of a sine (mains hum, motor tone) with a little noise.
        const count = Math.max(1, Math.round((s.sampleRate * s.everyMs) / 1000));
        const buf = Buffer.alloc(count * 2);
        for (let i = 0; i < count; i++, sampleIndex++) {
          const v = s.amplitude * Math.sin((2 * Math.PI * s.hz * sampleIndex) / s.sampleRate) + (Math.random() - 0.5) * s.amplitude * 0.05;
          buf.writeInt16LE(Math.max(-32768, Math.min(32767, Math.round(v))), i * 2);
        }
        board.sim.serial.push(s.port, buf);
      } else {
        board.sim.serial.push(s.port, s.text);
      }
    });
  }
  return () => timers.forEach((t) => clearInterval(t));
}
