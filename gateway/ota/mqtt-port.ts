/**
 * The few MQTT client calls OTA needs. An MQTT.js `MqttClient` satisfies it as is; tests may pass a
 * fake. Subscriptions are QoS 1 so a chunk or envelope is not lost on a flaky link.
 */
export type MessageListener = (topic: string, payload: Buffer, packet?: { retain?: boolean }) => void;

export interface MqttPort {
  subscribe(topic: string | string[], opts: { qos: 0 | 1 | 2 }, cb?: (err: Error | null | undefined) => void): unknown;
  unsubscribe(topic: string | string[], cb?: (err?: Error) => void): unknown;
  publish(topic: string, payload: string | Buffer, opts: { qos?: 0 | 1 | 2; retain?: boolean }, cb?: (err?: Error) => void): unknown;
  on(event: 'message', listener: MessageListener): unknown;
  removeListener(event: 'message', listener: MessageListener): unknown;
}

export function subscribeAsync(mqtt: MqttPort, topic: string | string[], qos: 0 | 1 | 2 = 1): Promise<void> {
  return new Promise((resolve, reject) => {
    mqtt.subscribe(topic, { qos }, (err) => (err ? reject(err) : resolve()));
  });
}

export function publishAsync(mqtt: MqttPort, topic: string, payload: string | Buffer, opts: { qos?: 0 | 1 | 2; retain?: boolean }): Promise<void> {
  return new Promise((resolve, reject) => {
    mqtt.publish(topic, payload, opts, (err) => (err ? reject(err) : resolve()));
  });
}

export { topicMatches } from '../../runtime/bus/topic.js';
