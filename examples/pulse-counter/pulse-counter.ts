// Pulse counter: a button, reed switch or S0 energy-meter output on GPIO 17. The gateway debounces
// the line (manifest watch debounce-ms); the component adds a lockout (`min-interval-ms`) against
// pulses that are physically impossible, counts rising edges, and on every tick publishes the
// total and the rate in pulses per minute over the last `window-ms` (default one minute).

import { telemetry, host, Status, ok } from "@airssys/sdk";

const PIN: u32 = 17;

let minIntervalMs: u64 = 20;
let windowMs: u64 = 60000;
let total: u64 = 0;
let rejected: u64 = 0;
let lastPulseAt: u64 = 0;
let started: u64 = 0;
// Timestamps of pulses inside the window: a ring buffer, so memory stays fixed at any rate.
const RING: i32 = 4096;
const ring = new StaticArray<u64>(RING);
let head: i32 = 0; // oldest
let count: i32 = 0;

export function init(): Status {
  minIntervalMs = <u64>host.configNumber("min-interval-ms", 20);
  windowMs = <u64>host.configNumber("window-ms", 60000);
  started = host.nowMs();
  return ok();
}

export function onGpio(pin: u32, value: bool, atMs: u64): Status {
  if (pin != PIN || !value) return ok();
  if (total > 0 && atMs - lastPulseAt < minIntervalMs) {
    rejected++;
    return ok();
  }
  lastPulseAt = atMs;
  total++;
  if (count == RING) { head = (head + 1) % RING; count--; }
  ring[(head + count) % RING] = atMs;
  count++;
  return ok();
}

/** Pulses per minute over the window ending at `nowMs`. */
export function ratePerMinute(nowMs: u64): f64 {
  while (count > 0 && nowMs - ring[head] > windowMs) { head = (head + 1) % RING; count--; }
  const span = min<u64>(windowMs, max<u64>(nowMs - started, 1));
  return <f64>count * 60000.0 / <f64>span;
}

export function onTick(nowMs: u64): Status {
  let s = telemetry.publish("count", <f64>total);
  if (!s.isOk) return s;
  s = telemetry.publish("per-minute", Math.round(ratePerMinute(nowMs) * 10) / 10);
  if (!s.isOk) return s;
  return rejected > 0 ? telemetry.publish("rejected", <f64>rejected) : ok();
}
