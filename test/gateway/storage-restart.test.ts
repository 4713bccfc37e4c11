import { existsSync, readFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { stringify as toYaml } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { until } from '../helpers/mosquitto.js';
import { GatewayFixture } from '../helpers/gateway-process.js';
import { storageCounter } from '../helpers/storage-components.js';

/**
 * Contract 7.1 storage against the real gateway process: a 0.2.0 component's counter lives in
 * `<data-dir>/storage/counter.json` and carries on across a clean restart and across SIGKILL (all
 * but the last flush interval), beside a 0.1.0 component that keeps running unchanged.
 */
const fx = new GatewayFixture('gw-store');

const counts = () => fx.rec.json('/telemetry/counter/count').map((m) => m.body.value as number);

beforeAll(async () => {
  const dir = (await fx.open()).dir;
  await writeFile(join(dir, 'counter.wasm'), await storageCounter());
  const manifest = { name: 'counter', version: '1.0.0', 'tick-ms': 100, capabilities: { telemetry: ['count', 'err'], storage: { 'max-bytes': 1024, 'max-keys': 8 } } };
  await writeFile(join(dir, 'counter.yaml'), toYaml(manifest));
  await fx.writeConfig({
    board: 'sim',
    storage: { 'flush-ms': 200 },
    policy: { roles: { r: { telemetry: ['*'], storage: { 'max-bytes': 4096, 'max-keys': 64 } } }, components: { counter: ['r'] } },
    components: [{ source: join(dir, 'counter.wasm'), manifest: join(dir, 'counter.yaml') }],
    log: { level: 'info' },
  });
}, 120_000);

afterAll(() => fx.dispose());

describe('storage across gateway restarts', () => {
  it('a clean stop flushes the bucket; the restarted gateway\'s component counts on from it', async () => {
    await fx.run();
    await until(() => counts().length >= 3, 60_000, 'three counts');
    expect(await fx.gw!.stop()).toBe(0);
    const before = Math.max(...counts());
    const file = join(fx.dataDir, 'storage', 'counter.json');
    expect(existsSync(file)).toBe(true);
    const stored = Buffer.from(JSON.parse(readFileSync(file, 'utf8')).entries.count, 'base64').readUInt32LE(0);
    expect(stored).toBe(before);
    const seen = counts().length;
    await fx.run();
    await until(() => counts().length > seen, 60_000, 'a count after the restart');
    expect(counts()[seen]).toBe(before + 1);
  }, 240_000);

  it('after SIGKILL at most the last flush interval is lost: the count does not start over', async () => {
    await until(() => counts().length >= 8, 60_000, 'more counts');
    // Well past one flush interval (200 ms) since the values we compare with were set.
    await new Promise((r) => setTimeout(r, 1500));
    const before = Math.max(...counts());
    await fx.gw!.sigkill();
    const seen = counts().length;
    await fx.run();
    await until(() => counts().length > seen, 60_000, 'a count after SIGKILL');
    // The flushed value is at least what was published 1.5 s (7 flush intervals) before the kill
    // minus the ticks of one interval; it is certainly not a fresh start.
    expect(counts()[seen]).toBeGreaterThan(before - 15);
    expect(counts()[seen]).toBeGreaterThan(3);
  }, 240_000);
});
