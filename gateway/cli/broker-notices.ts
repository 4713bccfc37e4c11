import type { MqttConnection } from '../mqtt/connection.js';
import { redact } from '../mqtt/connection.js';

/**
 * For CLI verbs that stay connected (`telemetry`, `status` while it waits): the connection
 * reconnects by itself after a drop (connection.ts); this says so on stderr, one line when the
 * broker is lost and one when it is back, so a tail that goes quiet is not mistaken for a quiet fleet.
 */
export function announceBrokerChanges(conn: MqttConnection, url: string, err: (line: string) => void): () => void {
  let lostAt: number | undefined;
  let attemptsAtLoss = 0;
  const onDisconnect = () => {
    lostAt = Date.now();
    attemptsAtLoss = conn.attempts;
    err(`lost the broker at ${redact(url)}; reconnecting (Ctrl-C to stop)`);
  };
  const onConnect = () => {
    if (lostAt === undefined) return;
    const s = Math.round((Date.now() - lostAt) / 1000);
    const n = conn.attempts - attemptsAtLoss;
    lostAt = undefined;
    err(`reconnected to ${redact(url)} after ${s} s (${n} attempt${n === 1 ? '' : 's'})`);
  };
  // Causes while reconnecting are already in the lost line; without a listener they would be dropped anyway.
  const onError = () => undefined;
  conn.on('disconnect', onDisconnect);
  conn.on('connect', onConnect);
  conn.on('error', onError);
  return () => {
    conn.off('disconnect', onDisconnect);
    conn.off('connect', onConnect);
    conn.off('error', onError);
  };
}
