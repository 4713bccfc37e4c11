/**
 * Inbound hardening (issue "Hardening"): what hostile traffic on the broker costs the real gateway
 * process. Run: `npm run bench -- inbound`. Numbers are printed; results are in docs/hardening.md.
 *   - seven 10 MB commands to a component with a 4 MiB memory limit: crashes (target 0)
 *   - 100,000 commands (one component) and 100,000 for made-up components: log growth (target < 1 MB)
 *   - 2,000 junk envelopes for made-up components: retained status topics left (target 0)
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mqtt from 'mqtt';
import { stringify as toYaml } from 'yaml';
import { buildWat } from '../runtime/build/wat.js';
import { Mosquitto, sleep, until } from '../test/helpers/mosquitto.js';
import { OK, sensorWat, strings } from '../test/helpers/sensor-wat.js';
import { GatewayProcess, retainedHealth } from '../test/helpers/gateway-process.js';

const ID = 'gw-bench-in';

export async function run(): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'airssys-bench-in-'));
  const broker = await new Mosquitto().start();
  const S = { len: 'len' };
  const T = strings(S);
  const wasm = join(dir, 'echo.wasm');
  await writeFile(wasm, await buildWat(sensorWat({ strings: S, onMessage: `i32.const ${T.ptr('len')} i32.const ${T.len('len')} local.get $dl f64.convert_i32_u i32.const 32 call $publish ${OK}` })));
  await writeFile(join(dir, 'gateway.yaml'), toYaml({
    gateway: { id: ID, 'data-dir': join(dir, 'var') },
    mqtt: { url: broker.url },
    policy: { roles: { r: { telemetry: ['*'], messaging: { receive: ['cmd/#'] } } }, components: { echo: ['r'] } },
    components: [{ source: wasm, manifest: { name: 'echo', version: '1.0.0', capabilities: { telemetry: ['len'], messaging: { receive: ['cmd/#'] } }, limits: { 'memory-mb': 4 } } }],
    telemetry: { 'health-interval-ms': 500 },
    log: { level: 'info' },
  }));
  const gw = new GatewayProcess(join(dir, 'gateway.yaml'), ID);
  const client = await mqtt.connectAsync(broker.url, { protocolVersion: 4 });
  const rows: Record<string, string | number>[] = [];
  try {
    await gw.running();
    await sleep(1000);
    const cmd = (rest: string) => `airssys/gw/${ID}/cmd/${rest}`;
    const settle = async (cond: (h: Record<string, any>) => boolean) => {
      for (let i = 0; i < 240; i++) {
        const h = await retainedHealth(broker.url, ID);
        if (cond(h)) return h;
        await sleep(500);
      }
      throw new Error('health did not settle');
    };

    let log0 = gw.stdout.length;
    const big = Buffer.alloc(10 * 1024 * 1024, 0x61);
    for (let i = 0; i < 7; i++) await client.publishAsync(cmd('echo/cmd/set'), big, { qos: 1 });
    let h = await settle((x) => x.commands?.refused['too-large'] >= 7);
    rows.push({ scenario: '7 x 10 MB commands (4 MiB component)', refused: h.commands.refused['too-large'], crashes: h.components.echo.crashes, 'log bytes': gw.stdout.length - log0 });

    for (const [label, topicOf] of [['100,000 commands to one component', () => cmd('echo/cmd/set')], ['100,000 commands to made-up components', (i: number) => cmd(`ghost-${i}/x`)]] as const) {
      log0 = gw.stdout.length;
      const lines0 = gw.stdout.split('\n').length;
      const h0 = await retainedHealth(broker.url, ID);
      const counted = (x: Record<string, any>) => x.commands.delivered + Object.values(x.commands.refused as Record<string, number>).reduce((a, b) => a + b, 0);
      const base = counted(h0);
      const t0 = performance.now();
      for (let i = 0; i < 100_000; i += 1000) {
        const batch: Promise<unknown>[] = [];
        for (let j = i; j < i + 1000; j++) batch.push(client.publishAsync((topicOf as (i: number) => string)(j), 'x', { qos: 1 }));
        await Promise.all(batch);
      }
      h = await settle((x) => counted(x) - base >= 100_000);
      const secs = (performance.now() - t0) / 1000;
      rows.push({ scenario: label, delivered: h.commands.delivered - h0.commands.delivered, refused: counted(h) - base - (h.commands.delivered - h0.commands.delivered), 'log bytes': gw.stdout.length - log0, 'log lines': gw.stdout.split('\n').length - lines0, 'msgs/s': Math.round(100_000 / secs), crashes: h.components.echo.crashes });
    }

    log0 = gw.stdout.length;
    for (let i = 0; i < 2000; i += 100) {
      const batch: Promise<unknown>[] = [];
      for (let j = i; j < i + 100; j++) batch.push(client.publishAsync(`airssys/gw/${ID}/ota/junk-${j}`, `{"junk":${j}}`, { qos: 1 }));
      await Promise.all(batch);
    }
    h = await settle((x) => (x.refused.byKind['ota-unknown-component'] ?? 0) >= 2000);
    const topics = new Set<string>();
    const late = await mqtt.connectAsync(broker.url);
    late.on('message', (t, p) => p.length && topics.add(t));
    await late.subscribeAsync(`airssys/gw/${ID}/ota/+/status`, { qos: 1 });
    await sleep(1500);
    await late.endAsync(true);
    rows.push({ scenario: '2,000 junk envelopes, made-up components', refused: h.refused.byKind['ota-unknown-component'], 'retained status topics': topics.size, 'log bytes': gw.stdout.length - log0 });
  } finally {
    await client.endAsync(true);
    await gw.stop();
    gw.kill();
    await broker.dispose();
    await rm(dir, { recursive: true, force: true });
  }
  console.table(rows);
}
