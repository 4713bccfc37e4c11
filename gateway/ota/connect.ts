import { readFileSync } from 'node:fs';
import type { MqttClient } from 'mqtt';
import { GatewayError } from '../../runtime/errors.js';

/** Connects an operator CLI verb to a broker: one attempt, a clear error when it is not reachable. */
export interface BrokerOptions {
  url: string;
  username?: string | undefined;
  password?: string | undefined;
  ca?: string | undefined;
  timeoutMs?: number;
}

export async function connectBroker(opts: BrokerOptions): Promise<MqttClient> {
  const mqtt = await import('mqtt');
  const timeoutMs = opts.timeoutMs ?? 10_000;
  return await new Promise<MqttClient>((resolve, reject) => {
    let client: MqttClient;
    try {
      client = mqtt.connect(opts.url, {
        reconnectPeriod: 0,
        connectTimeout: timeoutMs,
        clean: true,
        ...(opts.username !== undefined ? { username: opts.username } : {}),
        ...(opts.password !== undefined ? { password: opts.password } : {}),
        ...(opts.ca !== undefined ? { ca: readFileSync(opts.ca) } : {}),
      });
    } catch (err) {
      reject(new GatewayError('BROKER', `bad --broker ${opts.url}: ${(err as Error).message}; use e.g. mqtt://host:1883`));
      return;
    }
    const fail = (why: string) => {
      client.end(true);
      reject(new GatewayError('BROKER', `cannot reach broker ${opts.url} (${why}); check --broker and that the broker runs`));
    };
    const timer = setTimeout(() => fail(`no answer in ${timeoutMs} ms`), timeoutMs);
    client.once('connect', () => {
      clearTimeout(timer);
      client.removeAllListeners('error');
      client.on('error', () => undefined);
      resolve(client);
    });
    client.once('error', (err) => {
      clearTimeout(timer);
      fail(err.message || (err as NodeJS.ErrnoException).code || 'error');
    });
    client.once('close', () => {
      clearTimeout(timer);
      if (!client.connected) fail('connection closed');
    });
  });
}

export function endClient(client: MqttClient): Promise<void> {
  return new Promise((resolve) => client.end(false, {}, () => resolve()));
}
