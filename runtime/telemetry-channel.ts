// A function-only cycle with manifest.ts (it calls parseTelemetryChannel): safe under ESM.
import { echo } from './echo.js';
import { manifestError } from './manifest.js';

/**
 * A telemetry channel as the manifest declares it (contract 7.2): a plain name, or an object that
 * also says what the numbers mean — `{ name, unit, device-class, state-class }`. Grants and policy
 * only ever look at the name; the rest is metadata for consumers (Home Assistant discovery, docs).
 */
export interface TelemetryChannel {
  name: string;
  /** Unit of measurement as consumers show it (`°C`, `Pa`, `%`). */
  unit?: string;
  /** Home Assistant sensor device class (`temperature`, `pressure`, …). */
  deviceClass?: string;
  stateClass?: StateClass;
}

/** Home Assistant's sensor state classes: the ones long-term statistics understand. */
export const STATE_CLASSES = ['measurement', 'measurement_angle', 'total', 'total_increasing'] as const;
export type StateClass = (typeof STATE_CLASSES)[number];

const CHANNEL_RE = /^[A-Za-z0-9_.-]{1,64}$/;
// HA's device classes grow with every release: check the form, not a list that would go stale.
const DEVICE_CLASS_RE = /^[a-z][a-z0-9_]{0,63}$/;

export function parseTelemetryChannel(v: unknown, path: string): TelemetryChannel {
  if (typeof v === 'string') return { name: channelName(v, path) };
  if (typeof v !== 'object' || v === null || Array.isArray(v)) {
    throw manifestError(path, `expected a channel name or { name, unit, device-class, state-class }, got ${echo(v)}`, 'write e.g. temperature or { name: pressure, unit: Pa, device-class: pressure, state-class: measurement }');
  }
  const o = v as Record<string, unknown>;
  for (const key of Object.keys(o)) {
    if (!['name', 'unit', 'device-class', 'state-class'].includes(key)) throw manifestError(`${path}.${key}`, 'unknown key', 'use one of: name, unit, device-class, state-class');
  }
  if (typeof o.name !== 'string') throw manifestError(`${path}.name`, `expected a channel name, got ${echo(o.name)}`, 'write e.g. name: pressure');
  const name = channelName(o.name, `${path}.name`);
  if (name === '*') throw manifestError(`${path}.name`, 'the wildcard channel "*" cannot carry a unit or classes', 'write "*" as a plain list entry, or name the channel');
  const out: TelemetryChannel = { name };
  if (o.unit !== undefined) {
    if (typeof o.unit !== 'string' || o.unit.length === 0 || o.unit.length > 32) throw manifestError(`${path}.unit`, `expected a unit of 1-32 characters, got ${echo(o.unit)}`, 'write e.g. unit: Pa');
    out.unit = o.unit;
  }
  if (o['device-class'] !== undefined) {
    const dc = o['device-class'];
    if (typeof dc !== 'string' || !DEVICE_CLASS_RE.test(dc)) throw manifestError(`${path}.device-class`, `${echo(dc)} is not a device class`, 'use a Home Assistant sensor device class in lowercase, e.g. temperature, pressure, humidity');
    out.deviceClass = dc;
  }
  if (o['state-class'] !== undefined) {
    const sc = o['state-class'];
    if (!(STATE_CLASSES as readonly unknown[]).includes(sc)) throw manifestError(`${path}.state-class`, `unknown state class ${echo(sc)}`, `use one of: ${STATE_CLASSES.join(', ')}`);
    out.stateClass = sc as StateClass;
  }
  return out;
}

function channelName(name: string, path: string): string {
  if (name !== '*' && !CHANNEL_RE.test(name)) throw manifestError(path, `channel ${echo(name)} is not a valid name`, 'use letters, digits, _ . - (no / + #)');
  return name;
}
