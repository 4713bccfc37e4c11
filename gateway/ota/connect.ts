import { connectCli, type CliConnectOptions } from '../mqtt/client.js';
import { connectionPort } from './connection-port.js';
import type { MqttPort } from './mqtt-port.js';

/**
 * Connects an operator verb (push, artifacts rm) to a broker through the same CLI connection as
 * `status` and `telemetry` (one attempt, MQTT 5 with 3.1.1 fallback, AIRSSYS_MQTT_* credentials,
 * errors naming --broker), seen through the small MQTT port the OTA code speaks.
 */
export interface BrokerSession {
  port: MqttPort;
  close(): Promise<void>;
}

export async function connectBroker(url: string, credentials: CliConnectOptions, timeoutMs = 10_000): Promise<BrokerSession> {
  const conn = await connectCli(url, { ...credentials, connectTimeoutMs: timeoutMs });
  return { port: connectionPort(conn), close: () => conn.stop({ farewell: false }) };
}
