import { describe, expect, it } from 'vitest';
import { fileURLToPath } from 'node:url';
import { loadComponent } from '../../sdk/testing.js';

const here = (f: string) => fileURLToPath(new URL(f, import.meta.url));
const PORT = '/dev/ttyUSB0';
const load = () => loadComponent(here('./thermostat.ts'), { manifest: here('./thermostat.yaml') });

describe('thermostat example', () => {
  it('heats below the setpoint band, stops above it and holds in between', async () => {
    const c = await load();
    expect(c.init()).toMatchObject({ ok: true });
    expect(c.pin(22)).toBe(false);
    c.serial(PORT, 'T=20.0,H=40.0\n');
    expect(c.pin(22)).toBe(true); // 20.0 < 21.5 - 0.5
    // Smoothing (alpha 0.3): one 21.6 reading moves the average only to 20.48 -> still heating.
    c.serial(PORT, 'T=21.6,H=41\n');
    expect(c.pin(22)).toBe(true);
    for (let i = 0; i < 20; i++) c.serial(PORT, 'T=21.8,H=41\n'); // inside the band: no change
    expect(c.pin(22)).toBe(true);
    for (let i = 0; i < 20; i++) c.serial(PORT, 'T=22.5,H=41\n');
    expect(c.pin(22)).toBe(false); // above 22.0
    for (let i = 0; i < 20; i++) c.serial(PORT, 'T=21.2,H=41\n'); // inside the band again: stays off
    expect(c.pin(22)).toBe(false);
    expect(c.errors()).toEqual([]);
  });

  it('publishes smoothed temperature and humidity each tick that has new data', async () => {
    const c = await load();
    c.init();
    c.serial(PORT, 'T=20.0,H=40.0\r\nT=22.0,H=50.0\r\n');
    c.tick();
    expect(c.last('temperature')).toBeCloseTo(20.6, 5); // 0.3*22 + 0.7*20
    expect(c.last('humidity')).toBeCloseTo(43, 5);
    expect(c.last('heating')).toBe(1);
    c.tick();
    expect(c.values('temperature')).toHaveLength(1); // nothing new, nothing published
  });

  it('reports unreadable lines as handled errors and keeps going', async () => {
    const c = await load();
    c.init();
    const [bad] = c.serial(PORT, 'garbage\n');
    expect(bad).toMatchObject({ ok: false, kind: 'returned-err', message: expect.stringContaining('unreadable sensor line') });
    expect(c.serial(PORT, 'T=99.9\n')[0]).toMatchObject({ ok: false }); // implausible for a DHT22
    expect(c.serial(PORT, 'T=19\n')[0]).toMatchObject({ ok: true });
    expect(c.pin(22)).toBe(true);
  });

  it('switches the relay off when the sensor goes silent', async () => {
    const c = await load();
    c.init();
    c.serial(PORT, 'T=18\n');
    expect(c.pin(22)).toBe(true);
    const outcomes = c.tick(7); // 35 s > stale-ms 30 s
    expect(c.pin(22)).toBe(false);
    expect(outcomes.at(-1)).toMatchObject({ ok: false, kind: 'returned-err', message: expect.stringContaining('no sensor data') });
    expect(c.logs.some((l) => l.level === 'warn' && l.message.includes('relay off'))).toBe(true);
  });

  it('takes a new setpoint from a command message', async () => {
    const c = await load();
    c.init();
    c.serial(PORT, 'T=23\n');
    expect(c.pin(22)).toBe(false);
    expect(c.message('setpoint', '25')).toMatchObject({ ok: true });
    expect(c.pin(22)).toBe(true);
    expect(c.message('setpoint', 'hot')).toMatchObject({ ok: false, kind: 'returned-err' });
  });

  it('refuses to start without a setpoint', async () => {
    const c = await loadComponent(here('./thermostat.ts'), {
      manifest: { name: 'thermostat', version: '1.0.0', capabilities: { gpio: { write: [22] }, serial: [{ port: PORT, baud: 9600, framing: 'line' }] } },
    });
    expect(c.init()).toMatchObject({ ok: false, kind: 'returned-err', message: expect.stringContaining('setpoint is missing') });
  });
});
