// Soil probe: a capacitive soil-moisture sensor on channel 0 of an MCP3008 ADC (SPI bus 0, chip
// select 0). Every tick the component averages a few conversions and publishes the raw reading and
// the moisture in percent, from a two-point calibration: the raw value in dry air (0 %) and in water
// (100 %). Capacitive probes read lower the wetter the soil, resistive ones higher: the formula
// works either way round.
//
// Calibration is kept in storage (it belongs to this probe in this pot, and must survive restarts
// and updates) and set by command on cmd/soil-probe/calibrate:
//   "dry"       the current reading becomes the dry point (hold the probe in air)
//   "wet"       the current reading becomes the wet point (probe in a glass of water)
//   "dry=830"   / "wet=420"   set a point to a raw value 0-1023
//   "reset"     forget the stored points and use the manifest's config again
// Config (manifest capabilities.config): channel (0-7, default 0), samples (1-16, default 4),
// dry and wet (defaults 850 and 430 until calibrated).

import { spi, storage, telemetry, log, host, bytes, Status, ok, fail } from "@airssys/sdk";

const BUS: u8 = 0;
const CHIP_SELECT: u8 = 0;

let channel: u8 = 0;
let samples: i32 = 4;
let dry: f64 = 850;
let wet: f64 = 430;
let lastRaw: f64 = -1;

// The 3-byte MCP3008 exchange (datasheet section 6.1): start bit, single-ended + channel, padding.
const frame = new Uint8Array(3);

export function init(): Status {
  const ch = host.configNumber("channel", 0);
  if (!(ch >= 0 && ch <= 7) || ch != Math.floor(ch)) return fail("config channel must be 0-7 (the MCP3008 input the probe is on)");
  channel = <u8>ch;
  const n = host.configNumber("samples", 4);
  if (!(n >= 1 && n <= 16)) return fail("config samples must be 1-16");
  samples = <i32>n;
  dry = host.configNumber("dry", 850);
  wet = host.configNumber("wet", 430);
  const d = storage.getF64("dry", dry);
  const w = storage.getF64("wet", wet);
  if (!d.isOk || !w.isOk) return fail("cannot read the calibration from storage: " + (d.isOk ? w : d).toString());
  dry = d.value;
  wet = w.value;
  if (dry == wet) return fail("calibration dry and wet are both " + dry.toString() + "; send cmd calibrate dry=<raw> / wet=<raw> with two different values");
  log.info("soil probe on MCP3008 channel " + channel.toString() + ", dry " + dry.toString() + ", wet " + wet.toString());
  return ok();
}

// The 3 bytes clocked back; reused, so a reading allocates nothing (and leaves the GC nothing to do).
const reply = new Uint8Array(3);
let sum: i32 = 0;

/** The average of `samples` conversions (a capacitive probe's output ripples a little) into `lastRaw`. */
function read(): Status {
  frame[0] = 0x01; // start bit
  frame[1] = 0x80 | (channel << 4); // single-ended, channel
  frame[2] = 0x00;
  sum = 0;
  for (let i = 0; i < samples; i++) {
    const s = spi.transferInto(BUS, CHIP_SELECT, frame, reply);
    if (!s.isOk) return s;
    sum += ((<i32>reply[1] & 0x03) << 8) | <i32>reply[2]; // null bit, then B9..B0
  }
  lastRaw = <f64>sum / <f64>samples;
  return ok();
}

function moisture(raw: f64): f64 {
  const pct = ((dry - raw) / (dry - wet)) * 100;
  return Math.round(Math.min(100, Math.max(0, pct)) * 10) / 10;
}

export function onTick(_nowMs: u64): Status {
  const r = read();
  if (!r.isOk) return fail("MCP3008 on spi bus 0 chip select 0: " + r.toString());
  let s = telemetry.publish("raw", lastRaw);
  if (s.isOk) s = telemetry.publish("moisture", moisture(lastRaw));
  return s;
}

export function onMessage(topic: string, payload: Uint8Array): Status {
  if (topic != "calibrate") return ok();
  const text = bytes.toString(payload).trim().toLowerCase();
  if (text == "reset") {
    const a = storage.remove("dry");
    const b = storage.remove("wet");
    if (!a.isOk || !b.isOk) return fail("cannot clear the calibration: " + (a.isOk ? b : a).toString());
    dry = host.configNumber("dry", 850);
    wet = host.configNumber("wet", 430);
    log.info("calibration reset to the config: dry " + dry.toString() + ", wet " + wet.toString());
    return ok();
  }
  const eq = text.indexOf("=");
  const point = eq < 0 ? text : text.substring(0, eq).trim();
  if (point != "dry" && point != "wet") return fail("calibrate takes dry, wet, dry=<raw>, wet=<raw> or reset; got \"" + text + "\"");
  let value: f64;
  if (eq < 0) {
    const r = read();
    if (!r.isOk) return fail("cannot take the " + point + " reading: " + r.toString());
    value = lastRaw;
  } else {
    value = parseFloat(text.substring(eq + 1).trim());
    if (isNaN(value) || value < 0 || value > 1023) return fail(point + " must be a raw reading 0-1023; got \"" + text.substring(eq + 1) + "\"");
  }
  const other = point == "dry" ? wet : dry;
  if (value == other) return fail(point + " " + value.toString() + " equals the " + (point == "dry" ? "wet" : "dry") + " point; the two must differ");
  const s = storage.setF64(point, value);
  if (!s.isOk) return fail("cannot store the calibration: " + s.toString());
  if (point == "dry") dry = value;
  else wet = value;
  log.info("calibration " + point + " = " + value.toString());
  return ok();
}
