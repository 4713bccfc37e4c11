import mqtt, { type MqttClient } from 'mqtt';

/** A test-side observer: records every message on `filter` (QoS 1, optionally a persistent session). */
export interface Received {
  topic: string;
  payload: string;
  retain: boolean;
}

export class Recorder {
  readonly messages: Received[] = [];
  private client: MqttClient | undefined;

  constructor(private readonly url: string, private readonly filter: string, private readonly opts: { clientId?: string; persistent?: boolean } = {}) {}

  async start(): Promise<this> {
    const client = mqtt.connect(this.url, {
      clientId: this.opts.clientId ?? `rec-${Math.random().toString(16).slice(2)}`,
      clean: !this.opts.persistent,
      reconnectPeriod: 50,
      protocolVersion: 4,
    });
    this.client = client;
    client.on('message', (topic, payload, packet) => this.messages.push({ topic, payload: payload.toString(), retain: packet.retain }));
    client.on('error', () => {});
    await new Promise<void>((resolve) => client.once('connect', () => resolve()));
    await client.subscribeAsync(this.filter, { qos: 1 });
    return this;
  }

  json(topicSuffix?: string): Array<{ topic: string; body: Record<string, unknown> }> {
    return this.messages.filter((m) => !topicSuffix || m.topic.endsWith(topicSuffix)).map((m) => ({ topic: m.topic, body: JSON.parse(m.payload) as Record<string, unknown> }));
  }

  async stop(): Promise<void> {
    await this.client?.endAsync(true);
  }
}

/**
 * Checks at-least-once, in-order delivery of one channel: duplicates (seq ≤ the highest seen) are
 * allowed, but every new seq must be exactly the next one — no gap, no reordering. Returns the highest.
 */
export function checkSequence(seqs: number[], first = 1): { max: number; duplicates: number; error: string | undefined } {
  let max = first - 1;
  let duplicates = 0;
  for (const s of seqs) {
    if (s <= max) duplicates++;
    else if (s === max + 1) max = s;
    else return { max, duplicates, error: `seq ${s} arrived after ${max} (expected ${max + 1})` };
  }
  return { max, duplicates, error: undefined };
}
