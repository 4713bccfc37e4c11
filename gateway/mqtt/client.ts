import { MqttConnection } from './connection.js';

/**
 * A short-lived connection for CLI verbs: one attempt, errors name `--broker`, no reconnects.
 * Credentials come from the URL (mqtt://user:pass@host) or AIRSSYS_MQTT_USERNAME/PASSWORD.
 */
export async function connectCli(url: string, options: { env?: Record<string, string | undefined>; connectTimeoutMs?: number } = {}): Promise<MqttConnection> {
  const env = options.env ?? process.env;
  let username = env.AIRSSYS_MQTT_USERNAME || undefined;
  let password = env.AIRSSYS_MQTT_PASSWORD || undefined;
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
    retry: false,
    connectTimeoutMs: options.connectTimeoutMs ?? 5000,
    names: { url: '--broker', credentials: 'the user:password in --broker or AIRSSYS_MQTT_USERNAME/PASSWORD' },
  });
  await conn.start();
  return conn;
}
