import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseConfig } from '../gateway/config/index.js';
import { Gateway } from '../gateway/gateway.js';
import { buildWat } from '../runtime/build/wat.js';
import { freePort } from '../test/helpers/mosquitto.js';
import { OK, sensorWat, strings } from '../test/helpers/sensor-wat.js';

/**
 * What a Prometheus scrape costs a gateway running N components (each ticking at 10 Hz and
 * publishing one channel): wall time per `GET /metrics` (collect callbacks + text) and body size.
 * The data path pays nothing for metrics (values are read at scrape time), so only the scrape is measured.
 */
export async function run(): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'airssys-bench-metrics-'));
  const S = { t: 'temperature' };
  const T = strings(S);
  const wasm = join(dir, 'sensor.wasm');
  await writeFile(wasm, await buildWat(sensorWat({ strings: S, onTick: `i32.const ${T.ptr('t')} i32.const ${T.len('t')} f64.const 21.5 i32.const 32 call $publish ${OK}` })));
  for (const n of [1, 10, 30]) {
    const port = await freePort();
    const names = Array.from({ length: n }, (_, i) => `s${i}`);
    const config = parseConfig(
      {
        gateway: { id: 'bench', 'data-dir': join(dir, `var-${n}`) },
        mqtt: { url: 'embedded', 'embedded-port': await freePort(), 'embedded-host': '127.0.0.1' },
        policy: { roles: { r: { telemetry: ['*'] } }, components: Object.fromEntries(names.map((x) => [x, ['r']])) },
        components: names.map((name) => ({ source: wasm, manifest: { name, version: '1.0.0', 'tick-ms': 100, capabilities: { telemetry: ['temperature'] } } })),
        metrics: { listen: `127.0.0.1:${port}` },
        log: { level: 'error' },
      },
      { baseDir: dir },
    );
    const gw = new Gateway({ config });
    await gw.start();
    const url = `http://127.0.0.1:${port}/metrics`;
    let size = 0;
    for (let i = 0; i < 20; i++) size = (await (await fetch(url)).text()).length; // warm-up
    const times: number[] = [];
    for (let i = 0; i < 200; i++) {
      const t0 = performance.now();
      size = (await (await fetch(url)).text()).length;
      times.push(performance.now() - t0);
    }
    // The same HTTP round trip without collection (404 path): what the scrape adds on top.
    const base: number[] = [];
    for (let i = 0; i < 200; i++) {
      const t0 = performance.now();
      await (await fetch(`http://127.0.0.1:${port}/none`)).text();
      base.push(performance.now() - t0);
    }
    const p = (xs: number[], q: number) => [...xs].sort((a, b) => a - b)[Math.floor(q * (xs.length - 1))]!.toFixed(2);
    console.log(`metrics: ${n} components: scrape p50 ${p(times, 0.5)} ms, p99 ${p(times, 0.99)} ms, body ${(size / 1024).toFixed(1)} KiB; bare HTTP round trip p50 ${p(base, 0.5)} ms`);
    await gw.stop();
  }
  await rm(dir, { recursive: true, force: true });
}
