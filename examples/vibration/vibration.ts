// Vibration / power monitor: an accelerometer or current-transformer ADC streams signed 16-bit
// little-endian samples over serial (`bytes` framing: chunks arrive in any size, even split inside a
// sample). The component collects blocks of N samples, removes the DC offset and computes
//   - RMS (vibration severity, or AC current once scaled),
//   - the dominant frequency: Hann window, radix-2 FFT, strongest bin refined by parabolic
//     interpolation (50/60 Hz mains, motor shaft speed, bearing tones),
// publishes both per block, a small band summary as JSON every tick, and sends an alarm message
// when RMS exceeds `alarm-rms`.
//
// Config: sample-rate (Hz, default 1000), block (power of two, 64..4096, default 256),
//         scale (units per LSB, default 1), alarm-rms (default: off).

import { telemetry, messaging, log, host, Status, ok, fail, JsonWriter } from "@airssys/sdk";

let sampleRate: f64 = 1000;
let n: i32 = 256;
let scale: f64 = 1;
let alarmRms: f64 = Infinity;

let block = new Float64Array(256);
let filled: i32 = 0;
let carry: i32 = -1; // a low byte waiting for its high byte

// FFT work buffers and tables, sized once in init.
let re = new Float64Array(256);
let im = new Float64Array(256);
let window = new Float64Array(256);
let cosT = new Float64Array(128);
let sinT = new Float64Array(128);
let rev = new Int32Array(256);

let lastRms: f64 = 0;
let lastPeak: f64 = 0;
let blocks: u32 = 0;
let alarmed = false;
// Energy in 4 bands (fractions of Nyquist) of the last block, for the JSON summary.
const bands = new Float64Array(4);

export function init(): Status {
  sampleRate = host.configNumber("sample-rate", 1000);
  const b = <i32>host.configNumber("block", 256);
  if (b < 64 || b > 4096 || (b & (b - 1)) != 0) return fail("config block must be a power of two from 64 to 4096");
  scale = host.configNumber("scale", 1);
  alarmRms = host.configNumber("alarm-rms", Infinity);
  setup(b);
  return ok();
}

function setup(size: i32): void {
  n = size;
  block = new Float64Array(n);
  re = new Float64Array(n);
  im = new Float64Array(n);
  window = new Float64Array(n);
  cosT = new Float64Array(n / 2);
  sinT = new Float64Array(n / 2);
  rev = new Int32Array(n);
  for (let i = 0; i < n; i++) window[i] = 0.5 - 0.5 * Math.cos(2 * Math.PI * i / (n - 1));
  for (let i = 0; i < n / 2; i++) {
    cosT[i] = Math.cos(2 * Math.PI * i / n);
    sinT[i] = -Math.sin(2 * Math.PI * i / n);
  }
  let bits = 0;
  while ((1 << bits) < n) bits++;
  for (let i = 0; i < n; i++) {
    let r = 0;
    for (let k = 0; k < bits; k++) r |= ((i >> k) & 1) << (bits - 1 - k);
    rev[i] = r;
  }
  filled = 0;
}

/** In-place iterative radix-2 FFT over re/im. */
function fft(): void {
  for (let i = 0; i < n; i++) {
    const j = unchecked(rev[i]);
    if (j > i) {
      const tr = unchecked(re[i]); unchecked(re[i] = re[j]); unchecked(re[j] = tr);
      const ti = unchecked(im[i]); unchecked(im[i] = im[j]); unchecked(im[j] = ti);
    }
  }
  for (let size = 2; size <= n; size <<= 1) {
    const half = size >> 1;
    const step = n / size;
    for (let start = 0; start < n; start += size) {
      for (let k = 0; k < half; k++) {
        const wr = unchecked(cosT[k * step]);
        const wi = unchecked(sinT[k * step]);
        const a = start + k;
        const b = a + half;
        const xr = unchecked(re[b]) * wr - unchecked(im[b]) * wi;
        const xi = unchecked(re[b]) * wi + unchecked(im[b]) * wr;
        unchecked(re[b] = re[a] - xr);
        unchecked(im[b] = im[a] - xi);
        unchecked(re[a] = re[a] + xr);
        unchecked(im[a] = im[a] + xi);
      }
    }
  }
}

/** Analyses the full block: returns the Status of publishing the results. */
export function analyse(): Status {
  let mean: f64 = 0;
  for (let i = 0; i < n; i++) mean += unchecked(block[i]);
  mean /= n;
  let sq: f64 = 0;
  for (let i = 0; i < n; i++) {
    const x = unchecked(block[i]) - mean;
    sq += x * x;
    unchecked(re[i] = x * window[i]);
    unchecked(im[i] = 0);
  }
  lastRms = Math.sqrt(sq / n) * scale;
  fft();
  // Strongest bin above DC, then a parabola through it and its neighbours (log magnitudes).
  let best = 1;
  let bestMag: f64 = -1;
  const half = n / 2;
  for (let k = 0; k < 4; k++) bands[k] = 0;
  for (let k = 1; k < half; k++) {
    const m = unchecked(re[k]) * unchecked(re[k]) + unchecked(im[k]) * unchecked(im[k]);
    bands[min(3, (k * 4) / half)] += m;
    if (m > bestMag) { bestMag = m; best = k; }
  }
  let delta: f64 = 0;
  if (best > 1 && best < half - 1) {
    const a = Math.log(re[best - 1] * re[best - 1] + im[best - 1] * im[best - 1] + 1e-30);
    const b = Math.log(bestMag + 1e-30);
    const c = Math.log(re[best + 1] * re[best + 1] + im[best + 1] * im[best + 1] + 1e-30);
    const den = a - 2 * b + c;
    if (den != 0) delta = 0.5 * (a - c) / den;
  }
  lastPeak = (<f64>best + delta) * sampleRate / <f64>n;
  blocks++;
  let s = telemetry.publish("rms", Math.round(lastRms * 1000) / 1000);
  if (!s.isOk) return s;
  s = telemetry.publish("peak-hz", Math.round(lastPeak * 100) / 100);
  if (!s.isOk) return s;
  if (lastRms > alarmRms && !alarmed) {
    alarmed = true;
    log.warn("vibration alarm: rms " + lastRms.toString());
    return messaging.sendString("vibration/alarm", new JsonWriter().num("rms", lastRms).num("peakHz", lastPeak).toString());
  }
  if (lastRms <= alarmRms * 0.8) alarmed = false; // re-arm with hysteresis
  return ok();
}

export function onSerial(port: string, data: Uint8Array): Status {
  let result = ok();
  for (let i = 0; i < data.length; i++) {
    const byte = <i32>unchecked(data[i]);
    if (carry < 0) { carry = byte; continue; }
    const sample = <i16>((byte << 8) | carry);
    carry = -1;
    unchecked(block[filled] = <f64>sample);
    filled++;
    if (filled == n) {
      filled = 0;
      const s = analyse();
      if (!s.isOk) result = s;
    }
  }
  return result;
}

export function onTick(nowMs: u64): Status {
  if (blocks == 0) return ok();
  let total: f64 = 0;
  for (let k = 0; k < 4; k++) total += bands[k];
  const w = new JsonWriter()
    .num("rms", Math.round(lastRms * 1000) / 1000)
    .num("peakHz", Math.round(lastPeak * 100) / 100)
    .int("blocks", blocks);
  const shares = new Array<f64>(4);
  for (let k = 0; k < 4; k++) shares[k] = total > 0 ? Math.round(bands[k] / total * 1000) / 1000 : 0;
  w.numArray("bandShare", shares);
  return telemetry.publishJson("summary", w.toString());
}
