import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify as toYaml } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Mosquitto, until } from '../helpers/mosquitto.js';
import { Recorder } from '../helpers/subscriber.js';
import { GatewayProcess } from '../helpers/gateway-process.js';
import { storageCounter } from '../helpers/storage-components.js';

/**
 * Contract 7.1 storage against the real gateway process: a 0.2.0 component's counter lives in
 * `<data-dir>/storage/counter.json` and carries on across a clean restart and across SIGKILL (all
 * but the last flush interval), beside a 0.1.0 component that keeps running unchanged.
 */
const ID = 'gw-store';
let dir: string;
let broker: Mosquitto;
let rec: Recorder;
let gw: GatewayProcess | undefined;

const counts = () => rec.json('/telemetry/counter/count').map((m) => m.body.value as number);

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'airssys-store-gw-'));
  broker = await new Mosquitto().start();
  await writeFile(join(dir, 'counter.wasm'), await storageCounter());
  const manifest = { name: 'counter', version: '1.0.0', 'tick-ms': 100, capabilities: { telemetry: ['count', 'err'], storage: { 'max-bytes': 1024, 'max-keys': 8 } } };
  await writeFile(join(dir, 'counter.yaml'), toYaml(manifest));
  const config = {
    gateway: { id: ID, 'data-dir': join(dir, 'var') },
    mqtt: { url: broker.url },
    board: 'sim',
    storage: { 'flush-ms': 200 },
    policy: { roles: { r: { telemetry: ['*'], storage: { 'max-bytes': 4096, 'max-keys': 64 } } }, components: { counter: ['r'] } },
    components: [{ source: join(dir, 'counter.wasm'), manifest: join(dir, 'counter.yaml') }],
    log: { level: 'info' },
  };
  await writeFile(join(dir, 'gateway.yaml'), toYaml(config));
  rec = await new Recorder(broker.url, `airssys/gw/${ID}/#`).start();
}, 120_000);

afterAll(async () => {
  await gw?.stop();
  gw?.kill();
  await rec?.stop();
  await broker?.dispose();
  if (dir) await rm(dir, { recursive: true, force: true });
});

async function run(): Promise<GatewayProcess> {
  gw = new GatewayProcess(join(dir, 'gateway.yaml'), ID);
  await gw.running(90_000);
  return gw;
}

describe('storage across gateway restarts', () => {
  it('a clean stop flushes the bucket; the restarted gateway\'s component counts on from it', async () => {
    await run();
    await until(() => counts().length >= 3, 60_000, 'three counts');
    expect(await gw!.stop()).toBe(0);
    const before = Math.max(...counts());
    const file = join(dir, 'var', 'storage', 'counter.json');
    expect(existsSync(file)).toBe(true);
    const stored = Buffer.from(JSON.parse(readFileSync(file, 'utf8')).entries.count, 'base64').readUInt32LE(0);
    expect(stored).toBe(before);
    const seen = counts().length;
    await run();
    await until(() => counts().length > seen, 60_000, 'a count after the restart');
    expect(counts()[seen]).toBe(before + 1);
  }, 240_000);

  it('after SIGKILL at most the last flush interval is lost: the count does not start over', async () => {
    await until(() => counts().length >= 8, 60_000, 'more counts');
    // Well past one flush interval (200 ms) since the values we compare with were set.
    await new Promise((r) => setTimeout(r, 1500));
    const before = Math.max(...counts());
    gw!.kill();
    await new Promise<void>((r) => (gw!.child.exitCode !== null || gw!.child.signalCode !== null ? r() : gw!.child.once('exit', () => r())));
    const seen = counts().length;
    await run();
    await until(() => counts().length > seen, 60_000, 'a count after SIGKILL');
    // The flushed value is at least what was published 1.5 s (7 flush intervals) before the kill
    // minus the ticks of one interval; it is certainly not a fresh start.
    expect(counts()[seen]).toBeGreaterThan(before - 15);
    expect(counts()[seen]).toBeGreaterThan(3);
  }, 240_000);
});
