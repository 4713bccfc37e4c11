import type { MqttConnection } from '../mqtt/connection.js';
import type { MessageListener, MqttPort } from './mqtt-port.js';

/**
 * Lets the OTA updater speak through the gateway's own MqttConnection (one session, its
 * reconnect backoff and re-subscriptions) instead of a second client.
 *
 * The connection refuses to publish while it is down (it queues nothing), but OTA statuses must
 * not be lost: the status after a restart (`rolled-back … gateway restarted during probation`) is
 * made before the first CONNACK, and a release can finish during an outage. So a retained publish
 * that cannot go out now is kept — the latest per topic, which is all a retained topic holds —
 * and sent on the next connect, unless a newer one for that topic went out first.
 */
export function connectionPort(conn: MqttConnection): MqttPort {
  const wrapped = new Map<MessageListener, (topic: string, payload: Buffer, retained: boolean) => void>();
  const list = (t: string | string[]) => (Array.isArray(t) ? t : [t]);
  type Held = { payload: string | Buffer; opts: { qos?: 0 | 1 | 2; retain?: boolean }; cb: ((err?: Error) => void) | undefined };
  const held = new Map<string, Held>();
  const send = (topic: string, h: Held) => {
    conn.publish(topic, h.payload, h.opts).then(
      () => h.cb?.(),
      (err: Error) => {
        // Dropped with the session: keep it for the next connect unless something newer is queued.
        if (h.opts.retain && !conn.connected && !held.has(topic)) held.set(topic, h);
        else h.cb?.(err);
      },
    );
  };
  conn.on('connect', () => {
    const all = [...held];
    held.clear();
    for (const [topic, h] of all) send(topic, h);
  });
  return {
    subscribe(topic, opts, cb) {
      Promise.all(list(topic).map((t) => conn.subscribe(t, { qos: opts.qos }))).then(
        () => cb?.(null),
        (err: Error) => cb?.(err),
      );
    },
    unsubscribe(topic, cb) {
      Promise.all(list(topic).map((t) => conn.unsubscribe(t))).then(
        () => cb?.(),
        (err: Error) => cb?.(err),
      );
    },
    publish(topic, payload, opts, cb) {
      const h: Held = { payload, opts, cb };
      if (opts.retain && !conn.connected) {
        held.set(topic, h);
        return;
      }
      held.delete(topic); // superseded: an older status must not overwrite this one after a reconnect
      send(topic, h);
    },
    on(_event, listener) {
      const w = (topic: string, payload: Buffer, retained: boolean) => listener(topic, payload, { retain: retained });
      wrapped.set(listener, w);
      conn.on('message', w);
    },
    removeListener(_event, listener) {
      const w = wrapped.get(listener);
      if (w) conn.off('message', w);
      wrapped.delete(listener);
    },
  };
}
