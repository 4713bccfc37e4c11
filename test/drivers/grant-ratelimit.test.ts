import { describe, expect, it } from 'vitest';
import { GatewayError } from '../../runtime/errors.js';
import { parseManifest } from '../../runtime/manifest.js';
import { compileGrant, TopicAcl } from '../../drivers/policy/grant.js';
import { ComponentMetrics, Metrics } from '../../drivers/pipeline/metrics.js';
import { parseRateLimits, RateLimiter, TokenBucket } from '../../drivers/pipeline/rate-limit.js';

describe('compileGrant', () => {
  it('turns capabilities into byte maps, sets and ACLs', () => {
    const g = compileGrant(
      parseManifest({
        name: 'thermo',
        version: '1.2.3',
        capabilities: {
          gpio: { read: [17], write: [22], watch: [{ pin: 4, edge: 'falling', 'debounce-ms': 5 }] },
          serial: [{ port: '/dev/ttyUSB0', baud: 115200, framing: 'delimiter:0a' }],
          telemetry: ['temperature'],
          messaging: { send: ['thermo/#', 'exact/topic'], receive: ['cmd/#'] },
          config: { setpoint: 21.5 },
        },
      }),
    );
    expect(g.component).toBe('thermo');
    expect(g.version).toBe('1.2.3');
    // read covers read, write (read back) and watch pins
    expect([...g.gpioRead.entries()].filter(([, v]) => v).map(([k]) => k)).toEqual([4, 17, 22]);
    expect(g.gpioWrite[22]).toBe(1);
    expect(g.gpioWrite[17]).toBe(0);
    expect(g.gpioWatch[4]).toBe(1);
    expect(g.outputPins).toEqual([22]);
    expect(g.watches).toEqual([{ pin: 4, edge: 'falling', debounceMs: 5 }]);
    expect(g.serial.get('/dev/ttyUSB0')?.baud).toBe(115200);
    expect(g.telemetryAll).toBe(false);
    expect(g.telemetry.has('temperature')).toBe(true);
    expect(g.send.allows('thermo/a/b')).toBe(true);
    expect(g.send.allows('exact/topic')).toBe(true);
    expect(g.send.allows('exact/other')).toBe(false);
    expect(g.receive.allows('cmd/x')).toBe(true);
    expect(g.config.get('setpoint')).toBe('21.5');
  });

  it('TopicAcl cache stays bounded and answers stay right', () => {
    const acl = new TopicAcl(['a/+', 'bad/#/x'], 4);
    for (let i = 0; i < 100; i++) expect(acl.allows(`a/${i}`)).toBe(true);
    expect(acl.allows('a/1/2')).toBe(false);
    expect(acl.allows('bad/1/x')).toBe(false); // malformed filters grant nothing
    expect((acl as unknown as { cache: Map<string, boolean> }).cache.size).toBeLessThanOrEqual(4);
  });
});

describe('rate limits', () => {
  it('token bucket: burst, then refill at the rate', () => {
    let t = 0;
    const b = new TokenBucket(10, 3, () => t);
    expect([b.take(), b.take(), b.take(), b.take()]).toEqual([true, true, true, false]);
    t = 100; // 1 token back
    expect([b.take(), b.take()]).toEqual([true, false]);
    t = 10_000; // capped at burst
    expect([b.take(), b.take(), b.take(), b.take()]).toEqual([true, true, true, false]);
  });

  it('long-run rate is the configured rate', () => {
    let t = 0;
    const b = new TokenBucket(100, 10, () => t);
    let ok = 0;
    for (let i = 0; i < 100_000; i++) {
      t += 0.1; // 10 000 calls/s offered for 10 s
      if (b.take()) ok++;
    }
    expect(ok).toBeGreaterThanOrEqual(1000);
    expect(ok).toBeLessThanOrEqual(1011);
  });

  it('RateLimiter: defaults, overrides, off', () => {
    const r = new RateLimiter({ gpio: { rate: 1, burst: 1 }, log: null });
    expect(r.gpio?.burst).toBe(1);
    expect(r.log).toBeUndefined();
    expect(r.telemetry?.rate).toBe(100);
    expect(r.limitText('gpio')).toBe('gpio calls are limited to 1/s (burst 1)');
  });

  it('parseRateLimits validates config', () => {
    expect(parseRateLimits({ gpio: { rate: 5 }, log: 'off' })).toEqual({ gpio: { rate: 5, burst: 5 }, log: null });
    expect(parseRateLimits(undefined)).toEqual({});
    for (const bad of [[], { usb: { rate: 1 } }, { gpio: { rate: 0 } }, { gpio: { rate: 'fast' } }, { gpio: { rate: 1, burst: 0 } }, { gpio: { rate: Infinity } }]) {
      expect(() => parseRateLimits(bad), JSON.stringify(bad)).toThrow(GatewayError);
    }
  });
});

describe('metrics', () => {
  it('per component counters and snapshot', () => {
    const m = new Metrics();
    m.for('a').gpio += 2;
    m.for('a').denied++;
    m.for('b').log++;
    expect(m.for('a')).toBeInstanceOf(ComponentMetrics);
    expect(m.snapshot()).toEqual({
      a: { ops: { gpio: 2, serial: 0, telemetry: 0, messaging: 0, log: 0 }, denied: 1, limited: 0, invalid: 0, errors: 0 },
      b: { ops: { gpio: 0, serial: 0, telemetry: 0, messaging: 0, log: 1 }, denied: 0, limited: 0, invalid: 0, errors: 0 },
    });
  });
});
