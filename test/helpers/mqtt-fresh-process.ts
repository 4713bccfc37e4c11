import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { expect } from 'vitest';

const root = fileURLToPath(new URL('../..', import.meta.url));

/**
 * Runs the gateway's MQTT connection against its embedded broker in a fresh Node process (module
 * caches are per process), sends `messages` QoS 1 messages through a subscription, then evaluates
 * `report` (an expression; `require` is a CommonJS require from the checkout) and returns it with
 * the number of messages received. Tests use it to check what the connection loads or fills.
 */
export function mqttRoundTripInFreshProcess<T extends object>(messages: number, report: string): T & { got: number } {
  const script = `
import { createRequire } from 'node:module';
import { EmbeddedBroker } from './gateway/mqtt/embedded.ts';
import { MqttConnection } from './gateway/mqtt/connection.ts';
const require = createRequire(import.meta.url);
const broker = new EmbeddedBroker({ port: 0 });
await broker.start();
const conn = new MqttConnection({ url: broker.url });
await conn.start();
await conn.waitConnected();
let got = 0;
conn.on('message', () => got++);
await conn.subscribe('t/#', { qos: 1 });
for (let i = 0; i < ${messages}; i++) await conn.publish('t/x', 'v' + i, { qos: 1 });
const t0 = Date.now();
while (got < ${messages} && Date.now() - t0 < 10000) await new Promise((r) => setTimeout(r, 20));
console.log(JSON.stringify({ got, ...(${report}) }));
await conn.stop();
await broker.stop();
process.exit(0);
`;
  const r = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { cwd: root, encoding: 'utf8', timeout: 60_000 });
  expect(r.stderr).toBe('');
  return JSON.parse(r.stdout.trim().split('\n').at(-1)!) as T & { got: number };
}
