import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('../..', import.meta.url));

/**
 * mqtt-packet (under both MQTT.js and aedes) fills a module-wide cache of 65,536 two-byte Buffers
 * on its first write unless told not to: ~6 MB of V8 heap for the life of the gateway
 * (docs/memory.md). The gateway's connection turns it off; this runs the gateway's connection and
 * embedded broker in a fresh process (the cache is per process) and looks at the cache after
 * real traffic both ways.
 */
const script = `
import { createRequire } from 'node:module';
import { EmbeddedBroker } from './gateway/mqtt/embedded.ts';
import { MqttConnection } from './gateway/mqtt/connection.ts';
const broker = new EmbeddedBroker({ port: 0 });
await broker.start();
const conn = new MqttConnection({ url: broker.url });
await conn.start();
await conn.waitConnected();
let got = 0;
conn.on('message', () => got++);
await conn.subscribe('t/#', { qos: 1 });
for (let i = 0; i < 20; i++) await conn.publish('t/x', 'v' + i, { qos: 1 });
const t0 = Date.now();
while (got < 20 && Date.now() - t0 < 10000) await new Promise((r) => setTimeout(r, 20));
const numbers = createRequire(import.meta.url)('mqtt-packet/numbers.js');
console.log(JSON.stringify({ got, cached: Object.keys(numbers.cache).length }));
await conn.stop();
await broker.stop();
process.exit(0);
`;

describe('MQTT packet-id cache', () => {
  it('the gateway connection and the embedded broker exchange messages without building the 65,536-entry cache', () => {
    const r = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { cwd: root, encoding: 'utf8', timeout: 60_000 });
    expect(r.stderr).toBe('');
    const out = JSON.parse(r.stdout.trim().split('\n').at(-1)!) as { got: number; cached: number };
    expect(out.got).toBe(20);
    expect(out.cached).toBe(0);
  }, 90_000);
});
