import type { MqttConnection } from '../mqtt/connection.js';
import type { MessageListener, MqttPort } from './mqtt-port.js';

/**
 * Lets the OTA updater speak through the gateway's own MqttConnection (one session, its
 * reconnect backoff and re-subscriptions) instead of a second client.
 *
 * The connection refuses to publish while it is down (it queues nothing), but OTA statuses must
 * not be lost: the status after a restart (`rolled-back … gateway restarted during probation`) is
 * made before the first CONNACK, and a release can finish during an outage. So retained publishes
 * go through the connection's retained cache (`until-sent`: held while offline, the latest per
 * topic, sent on the next connect).
 */
export function connectionPort(conn: MqttConnection): MqttPort {
  const wrapped = new Map<MessageListener, (topic: string, payload: Buffer, retained: boolean) => void>();
  const list = (t: string | string[]) => (Array.isArray(t) ? t : [t]);
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
      if (opts.retain) {
        void conn.retained.publish(topic, payload, { qos: opts.qos ?? 0, mode: 'until-sent' }, cb);
        return;
      }
      conn.publish(topic, payload, opts).then(
        () => cb?.(),
        (err: Error) => cb?.(err),
      );
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
