import { MqttConnection } from './connection.js';

/**
 * A short-lived connection for CLI verbs: one attempt, errors name `--broker`, no reconnects.
 * Credentials come from the URL (mqtt://user:pass@host) or AIRSSYS_MQTT_USERNAME/PASSWORD.
 */
export interface CliConnectOptions {
  env?: Record<string, string | undefined>;
  connectTimeoutMs?: number;
  /** --username / --password (they win over the environment; the URL's user:pass wins over both). */
  username?: string;
  password?: string;
  /** CA certificate contents (PEM), for mqtts://. */
  ca?: Buffer;
}

export async function connectCli(url: string, options: CliConnectOptions = {}): Promise<MqttConnection> {
  const env = options.env ?? process.env;
  let username = options.username ?? (env.AIRSSYS_MQTT_USERNAME || undefined);
  let password = options.password ?? (env.AIRSSYS_MQTT_PASSWORD || undefined);
  try {
    const u = new URL(url);
    if (u.username) username = decodeURIComponent(u.username);
    if (u.password) password = decodeURIComponent(u.password);
  } catch {
    // mqtt.connect reports a bad URL with a clear line
  }
  const conn = new MqttConnection({
    url,
    ...(username !== undefined ? { username } : {}),
    ...(password !== undefined ? { password } : {}),
    ...(options.ca ? { ca: options.ca } : {}),
    retry: false,
    connectTimeoutMs: options.connectTimeoutMs ?? 5000,
    names: { url: '--broker', credentials: '--username/--password, the user:password in --broker, or AIRSSYS_MQTT_USERNAME/PASSWORD' },
  });
  await conn.start();
  return conn;
}
