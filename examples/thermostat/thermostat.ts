// Thermostat: a DHT22/SHT31-style sensor behind a serial bridge prints lines like `T=21.5,H=40.2`.
// The component smooths them (exponential moving average), switches a heating relay on GPIO 22
// with hysteresis around the `setpoint` config, and publishes temperature and humidity every tick.
// Fail-safe: when the sensor goes quiet for `stale-ms`, the relay is switched off.
//
// Config (manifest capabilities.config): setpoint (°C, required), hysteresis (default 0.5),
// alpha (smoothing 0..1, default 0.3), stale-ms (default 10000).
// Messages: `setpoint` with a number as payload changes the setpoint at runtime.

import { gpio, telemetry, log, host, bytes, Status, ok, fail } from "@airssys/sdk";

const RELAY_PIN: u32 = 22;

let setpoint: f64 = 21.5;
let hysteresis: f64 = 0.5;
let alpha: f64 = 0.3;
let staleMs: u64 = 10000;

let temp: f64 = NaN;
let humidity: f64 = NaN;
let lastSampleAt: u64 = 0;
let fresh = false;
let heating = false;

export function init(): Status {
  const sp = host.config("setpoint");
  if (sp === null) return fail("config setpoint is missing; add capabilities.config.setpoint");
  setpoint = parseFloat(sp);
  if (isNaN(setpoint)) return fail("config setpoint is not a number: " + sp);
  hysteresis = host.configNumber("hysteresis", 0.5);
  alpha = host.configNumber("alpha", 0.3);
  if (!(alpha > 0 && alpha <= 1)) return fail("config alpha must be in (0, 1]");
  staleMs = <u64>host.configNumber("stale-ms", 10000);
  lastSampleAt = host.nowMs();
  const off = setRelay(false);
  if (!off.isOk) return fail("cannot drive the relay on GPIO 22: " + off.toString());
  log.info("thermostat ready, setpoint " + setpoint.toString());
  return ok();
}

function setRelay(on: bool): Status {
  const s = gpio.write(RELAY_PIN, on);
  if (s.isOk) heating = on;
  return s;
}

/** Parses `T=21.5,H=40.2` (any order, spaces allowed). Returns false on garbage. */
function parseLine(line: string): bool {
  let t: f64 = NaN;
  let h: f64 = NaN;
  const parts = line.split(",");
  for (let i = 0; i < parts.length; i++) {
    const kv = parts[i].trim();
    const eq = kv.indexOf("=");
    if (eq <= 0) return false;
    const key = kv.substring(0, eq).trim().toUpperCase();
    const value = parseFloat(kv.substring(eq + 1).trim());
    if (isNaN(value)) return false;
    if (key == "T") t = value;
    else if (key == "H") h = value;
  }
  // Plausibility: a DHT22 reads -40..80 °C, 0..100 %RH.
  if (isNaN(t) || t < -40 || t > 80) return false;
  if (!isNaN(h) && (h < 0 || h > 100)) return false;
  temp = isNaN(temp) ? t : alpha * t + (1 - alpha) * temp;
  if (!isNaN(h)) humidity = isNaN(humidity) ? h : alpha * h + (1 - alpha) * humidity;
  return true;
}

function control(): Status {
  if (isNaN(temp)) return ok();
  if (!heating && temp < setpoint - hysteresis) {
    log.info("heating on at " + temp.toString());
    return setRelay(true);
  }
  if (heating && temp > setpoint + hysteresis) {
    log.info("heating off at " + temp.toString());
    return setRelay(false);
  }
  return ok();
}

export function onSerial(port: string, data: Uint8Array): Status {
  const line = bytes.toString(data).trim();
  if (line.length == 0) return ok();
  if (!parseLine(line)) return fail("unreadable sensor line from " + port + ": " + line);
  lastSampleAt = host.nowMs();
  fresh = true;
  return control();
}

export function onTick(nowMs: u64): Status {
  if (nowMs - lastSampleAt > staleMs) {
    if (heating) {
      log.warn("sensor silent for " + (nowMs - lastSampleAt).toString() + " ms: relay off");
      const s = setRelay(false);
      if (!s.isOk) return s;
    }
    return fail("no sensor data for " + (nowMs - lastSampleAt).toString() + " ms");
  }
  if (!fresh) return ok();
  fresh = false;
  let s = telemetry.publish("temperature", Math.round(temp * 100) / 100);
  if (!s.isOk) return s;
  if (!isNaN(humidity)) {
    s = telemetry.publish("humidity", Math.round(humidity * 10) / 10);
    if (!s.isOk) return s;
  }
  return telemetry.publish("heating", heating ? 1 : 0);
}

export function onMessage(topic: string, payload: Uint8Array): Status {
  if (topic != "setpoint") return ok();
  const v = parseFloat(bytes.toString(payload).trim());
  if (isNaN(v) || v < 5 || v > 35) return fail("setpoint must be a number from 5 to 35");
  setpoint = v;
  log.info("setpoint now " + v.toString());
  return control();
}
