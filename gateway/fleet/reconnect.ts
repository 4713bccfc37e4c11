import { connectCli, type CliConnectOptions } from '../mqtt/client.js';
import type { MqttConnection } from '../mqtt/connection.js';
import type { RolloutState } from './plan.js';

/**
 * How long a rollout CLI that lost its broker keeps trying to get back before it gives up and
 * leaves the rollout to `rollout resume`: long enough for a cluster to elect new stream leaders
 * after a node died (seconds) or a single broker to restart.
 */
export const RECONNECT_WINDOW_MS = 120_000;

/**
 * Reconnects a CLI (one attempt at a time, growing pauses) and reads the rollout's retained state
 * back; undefined when the window passed or the state cannot be found.
 */
export async function reconnectCli(
  url: string,
  credentials: CliConnectOptions,
  io: { err(line: string): void },
  readState: (conn: MqttConnection) => Promise<RolloutState | undefined>,
  windowMs = RECONNECT_WINDOW_MS,
): Promise<{ conn: MqttConnection; state: RolloutState } | undefined> {
  const deadline = Date.now() + windowMs;
  io.err(`lost the broker connection; reconnecting for up to ${Math.round(windowMs / 1000)} s to resume`);
  let pause = 250;
  while (Date.now() < deadline) {
    let conn: MqttConnection | undefined;
    try {
      conn = await connectCli(url, credentials);
      const state = await readState(conn);
      if (state) return { conn, state };
      await conn.stop({ farewell: false });
    } catch {
      await conn?.stop({ farewell: false }).catch(() => undefined);
    }
    await new Promise((r) => setTimeout(r, pause));
    pause = Math.min(pause * 2, 5000);
  }
  return undefined;
}
