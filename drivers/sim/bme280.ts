import type { SimI2cDevice } from '../bus/types.js';

/**
 * Bosch BME280 (temperature, pressure, humidity), register-accurate to its datasheet (BST-BME280-DS002)
 * as far as a component can see over I2C:
 *
 *   0x88-0xA1, 0xE1-0xE7  calibration (trimming) words, read-only
 *   0xD0 chip id 0x60     0xE0 soft reset (write 0xB6)
 *   0xF2 ctrl_hum         0xF3 status (always 0x00: a simulated measurement completes at once)
 *   0xF4 ctrl_meas        0xF5 config
 *   0xF7-0xFE data: press msb, lsb, xlsb(7:4), temp msb, lsb, xlsb(7:4), hum msb, lsb
 *
 * Writes are (register, value) pairs; a read starts at the last register written and
 * auto-increments. Writing ctrl_meas with mode forced (01/10) takes one measurement and returns to
 * sleep; normal mode (11) keeps the data registers current. An oversampling of 0 (skipped) leaves
 * that measurement at its reset value (0x80000, humidity 0x8000), as the chip does.
 *
 * The raw readings are found by searching the datasheet's own integer compensation (section 4.2.3,
 * 32-bit temperature and humidity, 64-bit pressure) with the calibration below, so a driver
 * applying those formulas gets the configured temperature within 0.01 °C, pressure within 1 Pa and
 * humidity within 0.1 %RH.
 */
export interface Bme280Reading {
  temperatureC: number;
  pressurePa: number;
  humidityPct: number;
}

/** Trimming values of a real part (the datasheet's example values for T and P). */
export const BME280_CALIBRATION = {
  T1: 27504, T2: 26435, T3: -1000,
  P1: 36477, P2: -10685, P3: 3024, P4: 2855, P5: 140, P6: -7, P7: 15500, P8: -14600, P9: 6000,
  H1: 75, H2: 362, H3: 0, H4: 313, H5: 50, H6: 30,
} as const;
type Calibration = typeof BME280_CALIBRATION;

export const BME280_CHIP_ID = 0x60;

// ---- the datasheet's compensation, used here only to find raw values that compensate to the target

function tFineOf(adcT: number, c: Calibration): number {
  const var1 = ((((adcT >> 3) - (c.T1 << 1))) * c.T2) >> 11;
  const d = (adcT >> 4) - c.T1;
  const var2 = (((((d * d) >> 12)) * c.T3) >> 14);
  return var1 + var2;
}
const temperatureOf = (tFine: number) => (tFine * 5 + 128) >> 8; // 0.01 °C

function pressureOf(adcP: number, tFine: number, c: Calibration): number {
  let var1 = BigInt(tFine) - 128000n;
  let var2 = var1 * var1 * BigInt(c.P6);
  var2 += (var1 * BigInt(c.P5)) << 17n;
  var2 += BigInt(c.P4) << 35n;
  var1 = ((var1 * var1 * BigInt(c.P3)) >> 8n) + ((var1 * BigInt(c.P2)) << 12n);
  var1 = (((1n << 47n) + var1) * BigInt(c.P1)) >> 33n;
  if (var1 === 0n) return 0;
  let p = 1048576n - BigInt(adcP);
  p = (((p << 31n) - var2) * 3125n) / var1;
  var1 = (BigInt(c.P9) * (p >> 13n) * (p >> 13n)) >> 25n;
  var2 = (BigInt(c.P8) * p) >> 19n;
  p = ((p + var1 + var2) >> 8n) + (BigInt(c.P7) << 4n);
  return Number(p); // Pa in Q24.8
}

function humidityOf(adcH: number, tFine: number, c: Calibration): number {
  let v = tFine - 76800;
  v = (((((adcH << 14) - (c.H4 << 20) - (c.H5 * v)) + 16384) >> 15) *
    (((((((v * c.H6) >> 10) * (((v * c.H3) >> 11) + 32768)) >> 10) + 2097152) * c.H2 + 8192) >> 14));
  v = v - (((((v >> 15) * (v >> 15)) >> 7) * c.H1) >> 4);
  v = v < 0 ? 0 : v > 419430400 ? 419430400 : v;
  return v >> 12; // %RH in Q22.10
}

/** The smallest x in [lo, hi] with f(x) >= target, for f non-decreasing. */
function lowerBound(lo: number, hi: number, f: (x: number) => number, target: number): number {
  while (lo < hi) {
    const mid = Math.floor((lo + hi) / 2);
    if (f(mid) >= target) hi = mid;
    else lo = mid + 1;
  }
  return lo;
}
function closest(around: number, lo: number, hi: number, f: (x: number) => number, target: number): number {
  let best = around;
  for (let x = Math.max(lo, around - 2); x <= Math.min(hi, around + 2); x++) if (Math.abs(f(x) - target) < Math.abs(f(best) - target)) best = x;
  return best;
}

/** Raw 20-bit temperature and pressure and 16-bit humidity that compensate to `r`. */
export function rawFor(r: Bme280Reading, c: Calibration = BME280_CALIBRATION): { adcT: number; adcP: number; adcH: number } {
  const wantT = Math.round(r.temperatureC * 100);
  const tOf = (x: number) => temperatureOf(tFineOf(x, c));
  const adcT = closest(lowerBound(0, 0xfffff, tOf, wantT), 0, 0xfffff, tOf, wantT);
  const tFine = tFineOf(adcT, c);
  // Pressure falls as adc_P rises: search on its negation.
  const wantP = r.pressurePa * 256;
  const negP = (x: number) => -pressureOf(x, tFine, c);
  const adcP = closest(lowerBound(0, 0xfffff, negP, -wantP), 0, 0xfffff, negP, -wantP);
  const wantH = Math.round(r.humidityPct * 1024);
  const hOf = (x: number) => humidityOf(x, tFine, c);
  const adcH = closest(lowerBound(0, 0xffff, hOf, wantH), 0, 0xffff, hOf, wantH);
  return { adcT, adcP, adcH };
}

// ---- the device

const RESET_DATA = [0x80, 0x00, 0x00, 0x80, 0x00, 0x00, 0x80, 0x00];

export class Bme280 implements SimI2cDevice {
  private readonly regs = new Uint8Array(256);
  private pointer = 0;
  private raw: { adcT: number; adcP: number; adcH: number };

  constructor(
    reading: Bme280Reading,
    private readonly calibration: Calibration = BME280_CALIBRATION,
  ) {
    this.raw = rawFor(reading, calibration);
    this.reset();
  }

  /** Changes what the next measurement reads (a test or a scenario drifting). */
  set(reading: Bme280Reading): void {
    this.raw = rawFor(reading, this.calibration);
    if ((this.regs[0xf4]! & 0x03) === 0x03) this.measure();
  }

  private reset(): void {
    const r = this.regs;
    r.fill(0);
    const c = this.calibration;
    const u16 = (at: number, v: number) => {
      r[at] = v & 0xff;
      r[at + 1] = (v >> 8) & 0xff;
    };
    u16(0x88, c.T1); u16(0x8a, c.T2); u16(0x8c, c.T3);
    u16(0x8e, c.P1); u16(0x90, c.P2); u16(0x92, c.P3); u16(0x94, c.P4); u16(0x96, c.P5);
    u16(0x98, c.P6); u16(0x9a, c.P7); u16(0x9c, c.P8); u16(0x9e, c.P9);
    r[0xa1] = c.H1;
    u16(0xe1, c.H2);
    r[0xe3] = c.H3;
    r[0xe4] = (c.H4 >> 4) & 0xff;
    r[0xe5] = (c.H4 & 0x0f) | ((c.H5 & 0x0f) << 4);
    r[0xe6] = (c.H5 >> 4) & 0xff;
    r[0xe7] = c.H6 & 0xff;
    r[0xd0] = BME280_CHIP_ID;
    r.set(RESET_DATA, 0xf7);
  }

  private measure(): void {
    const r = this.regs;
    const osrsT = (r[0xf4]! >> 5) & 0x07;
    const osrsP = (r[0xf4]! >> 2) & 0x07;
    const osrsH = r[0xf2]! & 0x07;
    const p = osrsP ? this.raw.adcP : 0x80000;
    const t = osrsT ? this.raw.adcT : 0x80000;
    const h = osrsH ? this.raw.adcH : 0x8000;
    r[0xf7] = (p >> 12) & 0xff;
    r[0xf8] = (p >> 4) & 0xff;
    r[0xf9] = (p & 0x0f) << 4;
    r[0xfa] = (t >> 12) & 0xff;
    r[0xfb] = (t >> 4) & 0xff;
    r[0xfc] = (t & 0x0f) << 4;
    r[0xfd] = (h >> 8) & 0xff;
    r[0xfe] = h & 0xff;
  }

  write(data: Uint8Array): void {
    if (data.length === 0) return;
    this.pointer = data[0]!;
    for (let i = 0; i + 1 < data.length; i += 2) {
      const reg = data[i]!;
      const value = data[i + 1]!;
      if (reg === 0xe0) {
        if (value === 0xb6) this.reset();
      } else if (reg === 0xf2) {
        this.regs[0xf2] = value & 0x07;
      } else if (reg === 0xf5) {
        this.regs[0xf5] = value & 0xfd;
      } else if (reg === 0xf4) {
        this.regs[0xf4] = value;
        const mode = value & 0x03;
        if (mode !== 0) this.measure();
        // Forced mode: one measurement, then back to sleep (status is 0x00 at once in simulation).
        if (mode === 0x01 || mode === 0x02) this.regs[0xf4] = value & 0xfc;
      }
      // Every other register is read-only: the chip ignores writes to it.
      this.pointer = reg;
    }
  }

  read(len: number): Uint8Array {
    const out = new Uint8Array(len);
    for (let i = 0; i < len; i++) {
      out[i] = this.regs[this.pointer]!;
      // Auto-increment, wrapping at the end of the register space.
      this.pointer = (this.pointer + 1) & 0xff;
    }
    return out;
  }
}
