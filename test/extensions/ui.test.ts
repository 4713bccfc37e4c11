import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { copyFile, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import mqtt from 'mqtt';
import { chromium, type BrowserContext } from 'playwright-core';
import { stringify as toYaml } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError, parseConfig } from '../../gateway/config/index.js';
import { GatewayEvents } from '../../gateway/extensions/events.js';
import { UiAuth } from '../../gateway/extensions/ui/auth.js';
import { BIN } from '../helpers/cli.js';
import { freePort, Mosquitto, until } from '../helpers/mosquitto.js';
import { buildWat } from '../../runtime/build/wat.js';
import { OK, sensorWat, strings } from '../helpers/sensor-wat.js';
import { buildAll, crasherComponent, GATEWAY_ID, killAll, launch, writeConfig, type Gw } from './helpers.js';

/**
 * `ui: { listen, token }`: the status page on the real gateway process, read by a real browser
 * (Debian's chromium through playwright-core), with a sim component publishing telemetry.
 * AIRSSYS_SCREENSHOT=docs/images/status-page.png refreshes the picture in docs/status-page.md.
 */
const CHROMIUM = '/usr/bin/chromium';
const hasChromium = existsSync(CHROMIUM);
if (!hasChromium) console.warn(`ui.test: ${CHROMIUM} is missing (apt-get install chromium); the browser tests are skipped`);
const TOKEN = 'test-token-0123456789abcdef';

/** `sensor`: each tick, temperature a triangle wave 20..22 (0.1 steps) and humidity 40..46 (a sawtooth). */
const S = { temp: 'temperature', hum: 'humidity' };
const T = strings(S);
const waveComponent = () =>
  buildWat(
    sensorWat({
      strings: S,
      extra: '(global $n (mut i32) (i32.const 0))',
      onTick: `global.get $n i32.const 1 i32.add global.set $n
        i32.const ${T.ptr('temp')} i32.const ${T.len('temp')}
        global.get $n i32.const 40 i32.rem_u i32.const 20 i32.sub f64.convert_i32_s f64.abs f64.const 10 f64.div f64.const 20 f64.add
        i32.const 32 call $publish
        i32.const ${T.ptr('hum')} i32.const ${T.len('hum')}
        global.get $n i32.const 7 i32.rem_u f64.convert_i32_u f64.const 40 f64.add
        i32.const 32 call $publish ${OK}`,
    }),
  );

let dir: string;
let broker: Mosquitto;
let gw: Gw;
let port: number;
let base: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'airssys-ui-'));
  broker = await new Mosquitto().start();
  const { built, warmCache } = await buildAll(dir, [
    { name: 'sensor', bytes: await waveComponent(), manifest: { name: 'sensor', version: '1.4.2', 'tick-ms': 100, capabilities: { telemetry: [{ name: 'temperature', unit: '°C' }, 'humidity'] } } },
    { name: 'crasher', bytes: await crasherComponent(), manifest: { name: 'crasher', version: '0.3.0', 'tick-ms': 200, restart: { policy: 'permanent', intensity: 1000, 'period-ms': 60000 } } },
  ]);
  port = await freePort();
  base = `http://127.0.0.1:${port}`;
  const { config } = await writeConfig({ dir, name: 'ui', brokerUrl: broker.url, components: built, warmCache, extra: { ui: { listen: `127.0.0.1:${port}`, token: TOKEN } } });
  gw = await launch(config);
}, 120_000);

afterAll(async () => {
  await gw?.stop();
  killAll();
  await broker?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

/** A raw GET (fetch would follow redirects and forbids setting Host). */
function get(path: string, headers: Record<string, string> = {}): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: string }> {
  return new Promise((res, rej) => {
    const r = request(`${base}${path}`, { headers }, (m) => {
      let body = '';
      m.on('data', (d) => (body += d));
      m.on('end', () => res({ status: m.statusCode!, headers: m.headers, body }));
    });
    r.on('error', rej);
    r.end();
  });
}

describe('status page access (ui.token)', () => {
  it('refuses requests without the token, in one line saying how to pass it', async () => {
    const r = await get('/');
    expect(r.status).toBe(401);
    expect(r.body.trim().split('\n')).toHaveLength(1);
    expect(r.body).toMatch(/needs its token .*\?token=.*Authorization: Bearer/);
    expect((await get('/api/status', { authorization: 'Bearer wrong-token-0123456789' })).status).toBe(401);
    expect((await get('/api/status', { cookie: 'airssys_ui=forged' })).status).toBe(401);
    expect((await get('/?token=nope')).status).toBe(401);
  });

  it('accepts a Bearer token; ?token= once sets a cookie and drops the token from the URL', async () => {
    const bearer = await get('/api/status', { authorization: `Bearer ${TOKEN}` });
    expect(bearer.status).toBe(200);
    const s = JSON.parse(bearer.body);
    expect(s.gateway.id).toBe(GATEWAY_ID);
    expect(s.components.map((c: { name: string }) => c.name).sort()).toEqual(['crasher', 'sensor']);

    const first = await get(`/?token=${TOKEN}&x=1`);
    expect(first.status).toBe(303);
    expect(first.headers.location).toBe('/?x=1');
    const cookie = String(first.headers['set-cookie']).split(';')[0]!;
    expect(cookie).toMatch(/^airssys_ui=/);
    expect(cookie).not.toContain(TOKEN);
    expect(String(first.headers['set-cookie'])).toMatch(/HttpOnly; SameSite=Strict/);
    const page = await get('/', { cookie });
    expect(page.status).toBe(200);
    expect(page.body).toContain('<script src="/app.js">');
    expect(page.headers['content-security-policy']).toMatch(/default-src 'self'/);
    expect((await get('/vendor/uPlot.iife.min.js', { cookie })).body).toMatch(/uPlot/);
  });
});

describe.skipIf(!hasChromium)('status page in a browser', () => {
  let context: BrowserContext;
  let profile: string;

  beforeAll(async () => {
    profile = await mkdtemp(join(tmpdir(), 'airssys-ui-chromium-'));
    context = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM,
      headless: true,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
      viewport: { width: 1280, height: 900 },
    });
  }, 60_000);

  afterAll(async () => {
    await context?.close();
    if (profile) await rm(profile, { recursive: true, force: true });
  });

  it('shows components, broker, outbox, live charts and OTA history', async () => {
    const page = await context.newPage();
    const problems: string[] = [];
    page.on('pageerror', (e) => problems.push(e.message));
    page.on('console', (m) => {
      if (m.type() === 'error') problems.push(m.text());
    });
    await page.goto(`${base}/?token=${TOKEN}`);
    expect(new URL(page.url()).search).toBe('');

    // Components with state and version, from the gateway's snapshot.
    const row = page.locator('#component-sensor');
    await row.locator('.state.running').waitFor({ timeout: 30_000 });
    await expect.poll(() => row.locator('td').nth(2).textContent()).toBe('1.4.2');
    // A component that traps on every tick: its restarts count up and its last error is shown.
    const crasher = page.locator('#component-crasher');
    await expect.poll(async () => Number(await crasher.locator('td').nth(3).textContent()), { timeout: 30_000 }).toBeGreaterThan(0);
    await expect.poll(() => crasher.locator('td').nth(7).textContent(), { timeout: 30_000 }).toMatch(/restarting: .*(trap|unreachable)/i);
    await expect.poll(() => page.locator('#broker-state').textContent(), { timeout: 30_000 }).toBe('connected');
    await expect.poll(() => page.locator('#outbox-depth').textContent(), { timeout: 30_000 }).toMatch(/^\d+$/);
    expect(await page.locator('#outbox-storage').textContent()).toBe('writable');
    expect(await page.locator('#live').textContent()).toBe('live');

    // A uPlot chart per channel, its data growing as the component ticks.
    const points = () => page.evaluate(() => (window as any).airssysUi.charts.get('sensor/temperature')?.plot?.data[0].length ?? 0);
    await expect.poll(points, { timeout: 30_000 }).toBeGreaterThan(3);
    const before = await points();
    await expect.poll(points, { timeout: 30_000 }).toBeGreaterThan(before + 3);
    // The values are the component's (a triangle wave 20..22), with the manifest's unit.
    const ys: number[] = await page.evaluate(() => (window as any).airssysUi.charts.get('sensor/temperature').ys);
    expect(Math.min(...ys)).toBeGreaterThanOrEqual(20);
    expect(Math.max(...ys)).toBeLessThanOrEqual(22);
    expect(new Set(ys).size).toBeGreaterThan(1);
    expect(await page.locator('#chart-sensor--humidity canvas').count()).toBe(1);
    expect(await page.locator('#chart-sensor--temperature .last').textContent()).toMatch(/^2[0-2](\.\d+)? °C$/);

    // An OTA status: a bad envelope for a known component is rejected, and the page lists it.
    const client = await mqtt.connectAsync(broker.url);
    await client.publishAsync(`airssys/gw/${GATEWAY_ID}/ota/sensor`, JSON.stringify({ manifest: { component: 'sensor', version: '9.9.9' }, signatures: [] }), { qos: 1 });
    await client.endAsync();
    const otaRow = page.locator('#ota tbody tr', { hasText: 'rejected' });
    await otaRow.waitFor({ timeout: 30_000 });
    expect(await otaRow.textContent()).toContain('bad-envelope');
    expect(await page.locator('#ota tbody tr', { hasText: 'received' }).count()).toBeGreaterThan(0);

    const shot = join(dir, 'status-page.png');
    if (process.env.AIRSSYS_SCREENSHOT) await expect.poll(points, { timeout: 30_000 }).toBeGreaterThan(60);
    await page.screenshot({ path: shot, fullPage: true });
    if (process.env.AIRSSYS_SCREENSHOT) {
      await mkdir(resolve(process.env.AIRSSYS_SCREENSHOT, '..'), { recursive: true });
      await copyFile(shot, resolve(process.env.AIRSSYS_SCREENSHOT));
    }
    expect(problems).toEqual([]);
    await page.close();
  }, 120_000);
});

describe('ui config (contract 7.4)', () => {
  const parse = (ui: unknown) => parseConfig({ gateway: { id: 'gw' }, ui }, { baseDir: '/tmp' }).ui;
  const problems = (ui: unknown) => {
    try {
      parse(ui);
    } catch (err) {
      return (err as ConfigError).problems;
    }
    return [];
  };

  it('is off when absent, on 127.0.0.1:8080 by default', () => {
    expect(parse(undefined)).toBeUndefined();
    expect(parse({})).toEqual({ listen: { host: '127.0.0.1', port: 8080 }, token: undefined });
    expect(parse(true)).toEqual({ listen: { host: '127.0.0.1', port: 8080 }, token: undefined });
  });

  it('refuses binding beyond loopback without ui.token, in one line', () => {
    expect(problems({ listen: '0.0.0.0:8080' })).toEqual(['config ui.listen: "0.0.0.0:8080" is beyond loopback and ui.token is not set; set ui.token (e.g. from `openssl rand -hex 16`) or listen on 127.0.0.1']);
    expect(parse({ listen: '0.0.0.0:8080', token: TOKEN })).toEqual({ listen: { host: '0.0.0.0', port: 8080 }, token: TOKEN });
    expect(problems({ token: 'short' })).toEqual(['config ui.token: expected at least 16 printable characters without spaces, got 5 character(s); generate one with `openssl rand -hex 16`']);
    expect(problems({ listen: 'x' })[0]).toMatch(/^config ui\.listen: "x" is not host:port/);
  });

  it('`airssys start` with such a config exits non-zero with that one line, no stack', async () => {
    const config = join(dir, 'open-ui.yaml');
    await writeFile(config, toYaml({ gateway: { id: 'gw-open', 'data-dir': join(dir, 'open-var') }, mqtt: { url: broker.url }, board: 'sim', ui: { listen: '0.0.0.0:8080' } }));
    const r = spawnSync(process.execPath, [BIN, 'start', '--config', config], { env: { ...process.env, AIRSSYS_FROM_SOURCE: '1' }, encoding: 'utf8', timeout: 60_000 });
    expect(r.status).not.toBe(0);
    expect(r.stderr).toMatch(/ui\.listen: "0\.0\.0\.0:8080" is beyond loopback and ui\.token is not set/);
    expect(r.stderr).not.toMatch(/\n\s+at /);
  }, 70_000);
});

describe('status page pieces', () => {
  it('without a token, answers only requests naming localhost (no DNS rebinding)', () => {
    const auth = new UiAuth(undefined);
    const req = (host: string) => ({ headers: { host } }) as any;
    const u = new URL('http://x/');
    expect(auth.check(req('127.0.0.1:8080'), u)).toEqual({ ok: true });
    expect(auth.check(req('localhost:8080'), u)).toEqual({ ok: true });
    expect(auth.check(req('[::1]:8080'), u)).toEqual({ ok: true });
    expect(auth.check(req('evil.example:8080'), u)).toMatchObject({ ok: false, status: 403 });
  });

  it('the telemetry tap is off (sampling false) until a listener registers, and off again after', () => {
    const ev = new GatewayEvents();
    const got: unknown[] = [];
    const l = (...a: unknown[]) => got.push(a);
    expect(ev.sampling).toBe(false);
    ev.on('sample', l);
    expect(ev.sampling).toBe(true);
    ev.sample('c', 'ch', { value: 1 }, 5);
    ev.off('sample', l);
    ev.off('sample', l);
    expect(ev.sampling).toBe(false);
    expect(got).toEqual([['c', 'ch', { value: 1 }, 5]]);
  });
});
