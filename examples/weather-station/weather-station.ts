// Weather station: a Bosch BME280 on I2C (temperature, pressure, humidity). The component is the
// driver: at init it checks the chip id and reads the trimming (calibration) registers once; every
// tick it starts a forced measurement, reads the 8 data registers and applies the datasheet's
// integer compensation (BST-BME280-DS002 section 4.2.3: 32-bit temperature and humidity, 64-bit
// pressure). It publishes temperature (°C), pressure (Pa) and humidity (%RH), and keeps the day's
// minimum and maximum of each in storage, so a restart, a gateway reboot or an update carries on
// with today's extremes instead of starting them over. The extremes go out as one JSON document on
// `daily` whenever one changes (one publish, not six: a reading event stays under 100k fuel).
//
// Config (manifest capabilities.config): bus (default 1), address (default 0x76; 0x77 when SDO is
// tied high), utc-offset-min (where "today" starts, default 0 = UTC).
// Storage: one key, "daily": the day number and the six extremes (56 bytes), written only when one
// of them changes.

import { i2c, storage, telemetry, log, host, Status, ok, fail } from "@airssys/sdk";

const CHIP_ID: u8 = 0x60;
const REG_CHIP_ID: u8 = 0xd0;
const REG_RESET: u8 = 0xe0;
const REG_CTRL_HUM: u8 = 0xf2;
const REG_STATUS: u8 = 0xf3;
const REG_CTRL_MEAS: u8 = 0xf4;
const REG_CONFIG: u8 = 0xf5;
const REG_DATA: u8 = 0xf7;
const REG_CALIB_TP: u8 = 0x88; // 0x88-0xA1: T1-T3, P1-P9, (0xA0 unused), H1
const REG_CALIB_H: u8 = 0xe1; // 0xE1-0xE7: H2-H6
// Oversampling x1 for all three (weather monitoring, datasheet section 3.5.1), forced mode.
const CTRL_HUM: u8 = 0x01;
const CTRL_MEAS_FORCED: u8 = (1 << 5) | (1 << 2) | 0x01;

let bus: u8 = 1;
let address: u16 = 0x76;
let dayOffsetMs: i64 = 0;

// Trimming values (datasheet table 16).
let T1: i32 = 0; let T2: i32 = 0; let T3: i32 = 0;
let P1: i64 = 0; let P2: i64 = 0; let P3: i64 = 0; let P4: i64 = 0; let P5: i64 = 0;
let P6: i64 = 0; let P7: i64 = 0; let P8: i64 = 0; let P9: i64 = 0;
let H1: i32 = 0; let H2: i32 = 0; let H3: i32 = 0; let H4: i32 = 0; let H5: i32 = 0; let H6: i32 = 0;

// Where each reading's status byte and data registers land (no allocation per reading).
const statusBuf = new Uint8Array(1);
const data = new Uint8Array(8);

// Today's extremes: [tMin, tMax, pMin, pMax, hMin, hMax]; `day` -1 until the first reading.
let day: i64 = -1;
// The first reading after a start publishes the extremes even when unchanged (restored from storage).
let announce = true;
const extremes = new StaticArray<f64>(6);
const DAILY_KEY = "daily";
const daily = new Uint8Array(56);

function u16le(b: Uint8Array, i: i32): i32 { return <i32>b[i] | (<i32>b[i + 1] << 8); }
function s16le(b: Uint8Array, i: i32): i32 { return <i32><i16>u16le(b, i); }

function where(): string {
  return "address 0x" + address.toString(16) + " on i2c bus " + bus.toString();
}

export function init(): Status {
  bus = <u8>host.configNumber("bus", 1);
  const a = host.config("address");
  if (a !== null) {
    const v = a.startsWith("0x") || a.startsWith("0X") ? I32.parseInt(a.substring(2), 16) : I32.parseInt(a, 10);
    if (v < 0x03 || v > 0x77) return fail("config address must be a 7-bit address 0x03-0x77 (0x76 or 0x77 for a BME280), got " + a);
    address = <u16>v;
  }
  dayOffsetMs = <i64>host.configNumber("utc-offset-min", 0) * 60_000;

  const id = i2c.readRegister(bus, address, REG_CHIP_ID);
  if (!id.isOk) return fail("cannot read the BME280 chip id at " + where() + ": " + id.toString() + " (check the wiring and that I2C is enabled: raspi-config nonint do_i2c 0)");
  if (id.value == 0x58) return fail("the chip at " + where() + " is a BMP280 (no humidity); this component needs a BME280");
  if (id.value != CHIP_ID) return fail("the chip at " + where() + " has id 0x" + id.value.toString(16) + ", not a BME280 (0x60)");

  // Soft reset, so the settings below start from a known state.
  let s = i2c.writeRegister(bus, address, REG_RESET, 0xb6);
  if (!s.isOk) return fail("BME280 reset failed: " + s.toString());

  const tp = i2c.readRegisters(bus, address, REG_CALIB_TP, 26);
  if (!tp.isOk) return fail("cannot read the BME280 calibration at 0x88: " + tp.toString());
  const h = i2c.readRegisters(bus, address, REG_CALIB_H, 7);
  if (!h.isOk) return fail("cannot read the BME280 calibration at 0xE1: " + h.toString());
  const c = tp.value;
  T1 = u16le(c, 0); T2 = s16le(c, 2); T3 = s16le(c, 4);
  P1 = <i64>u16le(c, 6); P2 = <i64>s16le(c, 8); P3 = <i64>s16le(c, 10); P4 = <i64>s16le(c, 12);
  P5 = <i64>s16le(c, 14); P6 = <i64>s16le(c, 16); P7 = <i64>s16le(c, 18); P8 = <i64>s16le(c, 20); P9 = <i64>s16le(c, 22);
  H1 = <i32>c[25];
  const e = h.value;
  H2 = s16le(e, 0);
  H3 = <i32>e[2];
  H4 = (<i32><i8>e[3] << 4) | (<i32>e[4] & 0x0f);
  H5 = (<i32><i8>e[5] << 4) | (<i32>e[4] >> 4);
  H6 = <i32><i8>e[6];

  // Filter off, standby irrelevant in forced mode; humidity oversampling takes effect with ctrl_meas.
  s = i2c.writeRegister(bus, address, REG_CONFIG, 0x00);
  if (s.isOk) s = i2c.writeRegister(bus, address, REG_CTRL_HUM, CTRL_HUM);
  if (!s.isOk) return fail("cannot configure the BME280: " + s.toString());

  restoreDaily();
  log.info("BME280 ready at " + where());
  return ok();
}

function restoreDaily(): void {
  const r = storage.get(DAILY_KEY);
  if (!r.isOk) {
    log.warn("cannot read today's extremes from storage: " + r.toString());
    return;
  }
  const v = r.value;
  if (v === null || v.byteLength != 56) return;
  day = <i64>load<f64>(v.dataStart);
  for (let i = 0; i < 6; i++) extremes[i] = load<f64>(v.dataStart + 8 + <usize>i * 8);
}

function saveDaily(): Status {
  store<f64>(daily.dataStart, <f64>day);
  for (let i = 0; i < 6; i++) store<f64>(daily.dataStart + 8 + <usize>i * 8, extremes[i]);
  return storage.set(DAILY_KEY, daily);
}

// ---- the datasheet's compensation ----------------------------------------------------------------

let tFine: i32 = 0;

/** Temperature in 0.01 °C; sets tFine for the other two. */
function compensateT(adcT: i32): i32 {
  const var1 = (((adcT >> 3) - (T1 << 1)) * T2) >> 11;
  const d = (adcT >> 4) - T1;
  const var2 = (((d * d) >> 12) * T3) >> 14;
  tFine = var1 + var2;
  return (tFine * 5 + 128) >> 8;
}

/** Pressure in Pa as Q24.8 (divide by 256). */
function compensateP(adcP: i32): i64 {
  let var1: i64 = <i64>tFine - 128000;
  let var2: i64 = var1 * var1 * P6;
  var2 = var2 + ((var1 * P5) << 17);
  var2 = var2 + (P4 << 35);
  var1 = ((var1 * var1 * P3) >> 8) + ((var1 * P2) << 12);
  var1 = (((<i64>1 << 47) + var1) * P1) >> 33;
  if (var1 == 0) return 0; // avoid a division by zero
  let p: i64 = 1048576 - <i64>adcP;
  p = (((p << 31) - var2) * 3125) / var1;
  var1 = (P9 * (p >> 13) * (p >> 13)) >> 25;
  var2 = (P8 * p) >> 19;
  return ((p + var1 + var2) >> 8) + (P7 << 4);
}

/** Relative humidity in %RH as Q22.10 (divide by 1024). */
function compensateH(adcH: i32): i32 {
  let v: i32 = tFine - 76800;
  v = (((((adcH << 14) - (H4 << 20) - (H5 * v)) + 16384) >> 15) *
    (((((((v * H6) >> 10) * (((v * H3) >> 11) + 32768)) >> 10) + 2097152) * H2 + 8192) >> 14));
  v = v - (((((v >> 15) * (v >> 15)) >> 7) * H1) >> 4);
  v = v < 0 ? 0 : v;
  v = v > 419430400 ? 419430400 : v;
  return v >> 12;
}

// ---- one reading per tick --------------------------------------------------------------------------

export function onTick(nowMs: u64): Status {
  let s = i2c.writeRegister(bus, address, REG_CTRL_MEAS, CTRL_MEAS_FORCED);
  if (!s.isOk) return fail("BME280 at " + where() + ": cannot start a measurement: " + s.toString());
  // At x1 oversampling a measurement takes under 10 ms; ticks are seconds apart, but a slow part
  // may still be busy (status bit 3), so look once and skip this tick rather than block.
  s = i2c.readRegistersInto(bus, address, REG_STATUS, statusBuf);
  if (!s.isOk) return fail("BME280 status: " + s.toString());
  if ((statusBuf[0] & 0x08) != 0) return ok();
  s = i2c.readRegistersInto(bus, address, REG_DATA, data);
  if (!s.isOk) return fail("BME280 at " + where() + ": cannot read the data registers: " + s.toString());
  const b = data;
  const adcP = (<i32>b[0] << 12) | (<i32>b[1] << 4) | (<i32>b[2] >> 4);
  const adcT = (<i32>b[3] << 12) | (<i32>b[4] << 4) | (<i32>b[5] >> 4);
  const adcH = (<i32>b[6] << 8) | <i32>b[7];
  // 0x80000 / 0x8000: the chip's value for a measurement that was skipped (not measured yet).
  if (adcT == 0x80000) return fail("BME280 returned no temperature (measurement skipped)");

  const t = <f64>compensateT(adcT) / 100;
  const p = Math.round(<f64>compensateP(adcP) / 25.6) / 10;
  const h = Math.round(<f64>compensateH(adcH) / 10.24) / 100;

  s = telemetry.publish("temperature", t);
  if (s.isOk) s = telemetry.publish("pressure", p);
  if (s.isOk) s = telemetry.publish("humidity", h);
  if (!s.isOk) return s;
  return track(nowMs, t, p, h);
}

/** Folds one reading into today's extremes; stores and publishes them only when one changed. */
function track(nowMs: u64, t: f64, p: f64, h: f64): Status {
  const today = (<i64>nowMs + dayOffsetMs) / 86_400_000;
  let changed = false;
  if (today != day) {
    day = today;
    extremes[0] = t; extremes[1] = t; extremes[2] = p; extremes[3] = p; extremes[4] = h; extremes[5] = h;
    changed = true;
  } else {
    changed = widen(0, t) | widen(2, p) | widen(4, h);
  }
  if (!changed && !announce) return ok();
  if (changed) {
    const s = saveDaily();
    // A full bucket or a storage hiccup must not stop the readings: say so and carry on.
    if (!s.isOk) log.warn("cannot store today's extremes: " + s.toString());
  }
  announce = false;
  return telemetry.publishJsonUtf8("daily", json, dailyJson());
}

// The `daily` document is written as UTF-8 into one reused buffer and published as those bytes.
// Fuel is counted per instruction, so per-character work shows: building it from concatenated
// strings with f64.toString allocated some 70 strings and cost more than the whole reading. Here
// the fixed parts are copied whole and only digits are written one by one; the values have a
// fixed resolution anyway (0.01 °C, 0.1 Pa, 0.01 %RH).
const json = new Uint8Array(192);
let jsonLen = 0;
const J_DAY = String.UTF8.encode('{"day":');
const J_T = String.UTF8.encode(',"temperature":{"min":');
const J_P = String.UTF8.encode(',"pressure":{"min":');
const J_H = String.UTF8.encode(',"humidity":{"min":');
const J_MAX = String.UTF8.encode(',"max":');
const J_END = String.UTF8.encode("}");

function put(piece: ArrayBuffer): void {
  memory.copy(json.dataStart + <usize>jsonLen, changetype<usize>(piece), <usize>piece.byteLength);
  jsonLen += piece.byteLength;
}

function putDigits(n: u64, minDigits: i32): void {
  const start = jsonLen;
  do {
    json[jsonLen++] = <u8>(48 + <u32>(n % 10));
    n /= 10;
  } while (n != 0 || jsonLen - start < minDigits);
  for (let a = start, b = jsonLen - 1; a < b; a++, b--) {
    const t = json[a]; json[a] = json[b]; json[b] = t;
  }
}

/** `v` with `decimals` (1 or 2) digits after the point. */
function putFixed(v: f64, decimals: i32): void {
  const scale: u64 = decimals == 1 ? 10 : 100;
  const n = <u64>Math.round(Math.abs(v) * <f64>scale);
  if (v < 0 && n != 0) json[jsonLen++] = 0x2d; // -
  putDigits(n / scale, 1);
  json[jsonLen++] = 0x2e; // .
  putDigits(n % scale, decimals);
}

function putPair(head: ArrayBuffer, i: i32, decimals: i32): void {
  put(head); putFixed(extremes[i], decimals);
  put(J_MAX); putFixed(extremes[i + 1], decimals); put(J_END);
}

/** `{"day":20422,"temperature":{"min":..,"max":..},"pressure":{..},"humidity":{..}}`; returns its length. */
function dailyJson(): i32 {
  jsonLen = 0;
  put(J_DAY);
  putDigits(<u64>day, 1);
  putPair(J_T, 0, 2);
  putPair(J_P, 2, 1);
  putPair(J_H, 4, 2);
  put(J_END);
  return jsonLen;
}

function widen(i: i32, v: f64): bool {
  let changed = false;
  if (v < extremes[i]) { extremes[i] = v; changed = true; }
  if (v > extremes[i + 1]) { extremes[i + 1] = v; changed = true; }
  return changed;
}
