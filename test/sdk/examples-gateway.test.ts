import { existsSync, readFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import mqtt from 'mqtt';
import { parse as parseYaml, stringify as toYaml } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildAssemblyScript } from '../../sdk/build.js';
import { until } from '../helpers/mosquitto.js';
import { GatewayFixture } from '../helpers/gateway-process.js';

/**
 * The two 0.2.0 SDK examples in the real gateway process (`airssys start`), on the simulated board
 * with a scenario (contract 7.3): weather-station reads the simulated BME280 over I2C and
 * soil-probe the MCP3008 over SPI, their telemetry reaches the broker, soil-probe is calibrated by
 * a command from the broker, and what they keep in storage (the day's extremes, the calibration)
 * is there again after the gateway restarts.
 */
const ID = 'gw-examples-v2';
const here = (f: string) => fileURLToPath(new URL(f, import.meta.url));
const fx = new GatewayFixture(ID, { startTimeoutMs: 120_000 });

const values = (component: string, channel: string) => fx.rec.json(`/telemetry/${component}/${channel}`).map((m) => m.body.value as number);
const dailies = () => fx.rec.json('/telemetry/weather-station/daily').map((m) => m.body.json as { temperature: { min: number; max: number }; pressure: { min: number; max: number } });

async function writeConfig(temperatureC: number): Promise<void> {
  await fx.writeConfig({
    board: {
      kind: 'sim',
      options: {
        scenario: {
          i2c: [{ bus: 1, address: '0x76', device: 'bme280', 'temperature-c': temperatureC, 'pressure-pa': 98_765, 'humidity-pct': 55.5 }],
          spi: [{ bus: 0, 'chip-select': 0, device: 'mcp3008', channels: [640, 0, 0, 0, 0, 0, 0, 0] }],
        },
      },
    },
    storage: { 'flush-ms': 200 },
    policy: {
      roles: {
        weather: { telemetry: ['*'], i2c: [{ bus: 1, address: 0x76 }], storage: { 'max-bytes': 4096, 'max-keys': 16 } },
        soil: { telemetry: ['*'], spi: [{ bus: 0, 'chip-select': 0, 'speed-hz': 1_000_000 }], storage: { 'max-bytes': 4096, 'max-keys': 16 }, messaging: { receive: ['calibrate'] } },
      },
      components: { 'weather-station': ['weather'], 'soil-probe': ['soil'] },
    },
    components: ['weather-station', 'soil-probe'].map((n) => ({ source: join(fx.dir, `${n}.wasm`), manifest: join(fx.dir, `${n}.yaml`) })),
    log: { level: 'info' },
  });
}

beforeAll(async () => {
  const dir = (await fx.open()).dir;
  for (const name of ['weather-station', 'soil-probe']) {
    await writeFile(join(dir, `${name}.wasm`), await buildAssemblyScript(here(`../../examples/${name}/${name}.ts`)));
    // The examples' own manifests, ticking faster so the test does not wait minutes.
    const manifest = parseYaml(readFileSync(here(`../../examples/${name}/${name}.yaml`), 'utf8')) as Record<string, unknown>;
    manifest['tick-ms'] = 200;
    if (name === 'weather-station') {
      // Put "today" at its noon when the test starts, so its minutes never straddle a day boundary.
      const caps = manifest.capabilities as { config: Record<string, string> };
      caps.config['utc-offset-min'] = String(Math.round((43_200_000 - (Date.now() % 86_400_000)) / 60_000));
    }
    await writeFile(join(dir, `${name}.yaml`), toYaml(manifest));
  }
}, 300_000);

afterAll(() => fx.dispose());

async function command(topic: string, payload: string): Promise<void> {
  const c = await mqtt.connectAsync(fx.broker.url, { reconnectPeriod: 0 });
  try {
    await c.publishAsync(`airssys/gw/${ID}/cmd/${topic}`, payload, { qos: 1 });
  } finally {
    await c.endAsync();
  }
}

describe('weather-station and soil-probe in the gateway process', () => {
  it('publish the simulated BME280 and MCP3008 readings; a command calibrates the probe', async () => {
    await writeConfig(23.45);
    await fx.run();
    await until(() => values('weather-station', 'humidity').length >= 2 && values('soil-probe', 'moisture').length >= 1, 60_000, 'weather and soil telemetry');
    expect(Math.abs(values('weather-station', 'temperature').at(-1)! - 23.45)).toBeLessThanOrEqual(0.01);
    expect(Math.abs(values('weather-station', 'pressure').at(-1)! - 98_765)).toBeLessThanOrEqual(1);
    expect(Math.abs(values('weather-station', 'humidity').at(-1)! - 55.5)).toBeLessThanOrEqual(0.1);
    expect(dailies().at(-1)!.temperature).toEqual({ min: 23.45, max: 23.45 });
    expect(values('soil-probe', 'raw').at(-1)).toBe(640);
    expect(values('soil-probe', 'moisture').at(-1)).toBe(50); // the manifest's config: dry 850, wet 430

    await command('soil-probe/calibrate', 'dry=900');
    await command('soil-probe/calibrate', 'wet=500');
    await until(() => values('soil-probe', 'moisture').at(-1) === 65, 30_000, 'moisture from the new calibration'); // (900-640)/(900-500)
    expect(fx.gw!.matching(/calibration wet = 500/).length).toBe(1);
  }, 400_000);

  it('the day\'s extremes and the calibration survive a gateway restart', async () => {
    expect(await fx.gw!.stop()).toBe(0);
    for (const n of ['weather-station', 'soil-probe']) expect(existsSync(join(fx.dataDir, 'storage', `${n}.json`))).toBe(true);
    const soil = JSON.parse(readFileSync(join(fx.dataDir, 'storage', 'soil-probe.json'), 'utf8')) as { entries: Record<string, string> };
    expect(Buffer.from(soil.entries.dry!, 'base64').readDoubleLE(0)).toBe(900);

    // The weather warms up while the gateway is down: after the restart today's minimum is still
    // the 23.45 °C from before (from storage), the maximum the new reading.
    await writeConfig(26.1);
    const seenDaily = dailies().length;
    const seenMoisture = values('soil-probe', 'moisture').length;
    await fx.run();
    await until(() => dailies().length > seenDaily && values('soil-probe', 'moisture').length > seenMoisture, 60_000, 'telemetry after the restart');
    expect(dailies()[seenDaily]!.temperature).toEqual({ min: 23.45, max: 26.1 });
    expect(values('soil-probe', 'moisture')[seenMoisture]).toBe(65); // not 50: the calibration came back
  }, 400_000);
});
