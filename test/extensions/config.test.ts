import { describe, expect, it } from 'vitest';
import { ConfigError, parseConfig } from '../../gateway/config/index.js';
import { compileGrant } from '../../drivers/policy/grant.js';
import { parseManifest } from '../../runtime/manifest.js';

/** Contract 7.2 channel objects in manifests, and the 7.4 `metrics` / `homeassistant` config keys. */
describe('telemetry channel objects (contract 7.2)', () => {
  const manifest = (telemetry: unknown) => parseManifest({ name: 'thermo', version: '1.0.0', capabilities: { telemetry } });

  it('accepts plain names and objects side by side; grants stay by name', () => {
    const m = manifest(['temperature', { name: 'pressure', unit: 'Pa', 'device-class': 'pressure', 'state-class': 'measurement' }, '*']);
    expect(m.capabilities.telemetry).toEqual(['temperature', 'pressure', '*']);
    expect(m.capabilities.channels).toEqual([{ name: 'temperature' }, { name: 'pressure', unit: 'Pa', deviceClass: 'pressure', stateClass: 'measurement' }]);
    const grant = compileGrant(manifest(['temperature', { name: 'pressure', unit: 'Pa' }]));
    expect([...grant.telemetry].sort()).toEqual(['pressure', 'temperature']);
  });

  it.each([
    [[{ unit: 'Pa' }], /capabilities\.telemetry\[0\]\.name: expected a channel name/],
    [[{ name: 'p', colour: 'red' }], /capabilities\.telemetry\[0\]\.colour: unknown key; use one of: name, unit, device-class, state-class/],
    [[{ name: 'p', 'state-class': 'average' }], /state-class: unknown state class "average"; use one of: measurement, measurement_angle, total, total_increasing/],
    [[{ name: 'p', 'device-class': 'Pressure!' }], /device-class: "Pressure!" is not a device class/],
    [[{ name: 'a/b' }], /channel "a\/b" is not a valid name/],
    [[{ name: '*', unit: 'Pa' }], /wildcard channel/],
    [[42], /expected a channel name or \{ name, unit, device-class, state-class \}/],
  ])('refuses %j with one line naming the key and the fix', (telemetry, message) => {
    expect(() => manifest(telemetry)).toThrow(message);
  });
});

describe('metrics and homeassistant config keys (contract 7.4)', () => {
  const parse = (extra: Record<string, unknown>) => parseConfig({ gateway: { id: 'gw' }, ...extra }, { baseDir: '/tmp' });
  const problems = (extra: Record<string, unknown>) => {
    try {
      parse(extra);
    } catch (err) {
      return (err as ConfigError).problems;
    }
    return [];
  };

  it('both are off when absent', () => {
    const c = parse({});
    expect(c.metrics).toBeUndefined();
    expect(c.homeassistant).toBeUndefined();
  });

  it('metrics.listen takes host:port, [v6]:port or a bare port (loopback)', () => {
    expect(parse({ metrics: { listen: '127.0.0.1:9464' } }).metrics).toEqual({ listen: { host: '127.0.0.1', port: 9464 } });
    expect(parse({ metrics: { listen: '[::1]:9100' } }).metrics).toEqual({ listen: { host: '::1', port: 9100 } });
    expect(parse({ metrics: { listen: 9200 } }).metrics).toEqual({ listen: { host: '127.0.0.1', port: 9200 } });
    expect(parse({ metrics: {} }).metrics).toEqual({ listen: { host: '127.0.0.1', port: 9464 } });
    expect(problems({ metrics: { listen: 'localhost' } })).toEqual(['config metrics.listen: "localhost" is not host:port; write host:port, e.g. 127.0.0.1:9464 or [::1]:9464 (or only the port for loopback)']);
    expect(problems({ metrics: { listen: '0.0.0.0:70000' } })).toEqual(['config metrics.listen: port 70000 is out of range; use a port from 1 to 65535']);
    expect(problems({ metrics: { port: 1 } })[0]).toMatch(/^config metrics\.port: unknown key/);
  });

  it('homeassistant takes discovery-prefix and legacy', () => {
    expect(parse({ homeassistant: { 'discovery-prefix': 'ha' } }).homeassistant).toEqual({ discoveryPrefix: 'ha', statusTopic: 'ha/status', legacy: false });
    expect(parse({ homeassistant: {} }).homeassistant).toEqual({ discoveryPrefix: 'homeassistant', statusTopic: 'homeassistant/status', legacy: false });
    expect(parse({ homeassistant: { legacy: true } }).homeassistant?.legacy).toBe(true);
    expect(parse({ homeassistant: true }).homeassistant).toEqual({ discoveryPrefix: 'homeassistant', statusTopic: 'homeassistant/status', legacy: false });
    expect(problems({ homeassistant: { 'discovery-prefix': 'home#' } })[0]).toMatch(/^config homeassistant\.discovery-prefix: "home#" is not a usable discovery prefix/);
    expect(problems({ homeassistant: { legacy: 'maybe' } })[0]).toBe('config homeassistant.legacy: unknown value "maybe"; use one of: true, false');
  });
});
