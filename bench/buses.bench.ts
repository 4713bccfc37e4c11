/**
 * Sensor buses and storage benchmark (issue 14): i2c.transfer and spi.transfer through the full
 * pipeline on the simulated board, compared with the device model alone (target: ≤ 1 µs per call
 * beyond the model); storage.get / storage.set through the pipeline (target: ≤ 2 µs) with a
 * FileStore, counting fsyncs on the set path (target: none). Run: `npm run bench -- buses`.
 * Results are recorded in docs/drivers.md and docs/storage.md.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { createHostApi } from '../drivers/pipeline/host-calls.js';
import { compileGrant } from '../drivers/policy/grant.js';
import { Metrics } from '../drivers/pipeline/metrics.js';
import { createSimBoard } from '../drivers/sim-board.js';
import { FileStore } from '../drivers/storage/store.js';
import { parseManifest } from '../runtime/manifest.js';
import { batchTiming } from './measure.js';

export async function run(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'airssys-bench-buses-'));
  const board = createSimBoard({
    devices: {
      i2c: [{ bus: 1, address: 0x76, device: 'bme280', temperatureC: 21.5, pressurePa: 101_325, humidityPct: 40 }],
      spi: [{ bus: 0, chipSelect: 0, device: 'mcp3008', channels: [512, 0, 0, 0, 0, 0, 0, 0] }],
    },
  });
  const manifest = parseManifest({
    name: 'bench',
    version: '1.0.0',
    capabilities: { i2c: [{ bus: 1, address: 0x76 }], spi: [{ bus: 0, 'chip-select': 0 }], storage: { 'max-bytes': 1_000_000, 'max-keys': 1000 } },
  });
  const store = new FileStore({ dir: join(dir, 'storage'), flushMs: 3_600_000 });
  const unlimited = { rate: 1e12, burst: 1e12 };
  const api = createHostApi({
    component: { name: 'bench', version: '1.0.0' },
    grant: compileGrant(manifest),
    board,
    metrics: new Metrics(),
    sinks: { telemetry() {}, message() {}, log() {} },
    storage: store,
    rateLimits: { i2c: unlimited, spi: unlimited, storage: unlimited },
  });
  const N = 300_000;
  const reg = Uint8Array.of(0xf7);
  const adc = Uint8Array.of(0x01, 0x80, 0x00);
  const value = new Uint8Array(8);
  let sink = 0;
  const rows: Array<[string, number]> = [];
  const add = (name: string, fn: () => void) => rows.push([name, batchTiming(fn, N, 9).median]);

  add('device model only: board.i2c.transfer (8-byte data read)', () => { sink ^= board.i2c.transfer(1, 0x76, reg.slice(), 8)[0]!; });
  add('HostApi.i2cTransfer (8-byte data read), full pipeline', () => { sink ^= api.i2cTransfer(1, 0x76, reg, 8)[0]!; });
  add('device model only: board.spi.transfer (3 bytes)', () => { sink ^= board.spi.transfer(0, 0, adc.slice(), { speedHz: 1e6, mode: 0 })[2]!; });
  add('HostApi.spiTransfer (3 bytes), full pipeline', () => { sink ^= api.spiTransfer(0, 0, adc)[2]!; });
  api.storageSet('k', value);
  add('HostApi.storageGet (8-byte value)', () => { sink ^= api.storageGet('k')![0]!; });
  add('HostApi.storageSet (8-byte value)', () => { value[0] = sink & 0xff; api.storageSet('k', value); });

  console.log('buses and storage bench (sim board), ns per call');
  for (const [n, v] of rows) console.log(`${n.padEnd(60)} ${v.toFixed(1).padStart(8)}`);
  const i2cOver = rows[1]![1] - rows[0]![1];
  const spiOver = rows[3]![1] - rows[2]![1];
  console.log(`i2c pipeline beyond the device model: ${i2cOver.toFixed(1)} ns (target ≤ 1000): ${i2cOver <= 1000 ? 'met' : 'MISSED'}`);
  console.log(`spi pipeline beyond the device model: ${spiOver.toFixed(1)} ns (target ≤ 1000): ${spiOver <= 1000 ? 'met' : 'MISSED'}`);
  console.log(`storage get / set: ${rows[4]![1].toFixed(1)} / ${rows[5]![1].toFixed(1)} ns (target ≤ 2000 each)`);
  console.log(`fsyncs during ${N * 10} sets: ${store.fsyncs} (target 0 on the set path; one flush per storage.flush-ms)`);
  store.close();
  console.log(`fsyncs after close (one flush): ${store.fsyncs}`);
  await board.close();
  rmSync(dir, { recursive: true, force: true });
  if (sink === -1) console.log('');
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) await run();
