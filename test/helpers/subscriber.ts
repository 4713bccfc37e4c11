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

/** One received sample: its seq, and the jump it announces after an unclean stop (contract 7.4). */
export type SeqSample = number | { seq: number; skipped?: [number, number] | undefined };

/**
 * Checks at-least-once, in-order delivery of one channel: duplicates (seq ≤ the highest seen) are
 * allowed, but every new seq must be exactly the next one — no gap, no reordering — unless the sample
 * announces the jump with `skipped: [first, last]` ending just before it (after an unclean stop the
 * gateway continues above its seq reservation; `first` may be at or below numbers already seen, as
 * the last ones before the stop may have been published from memory). Returns the highest, and the
 * jumps seen.
 */
export function checkSequence(samples: SeqSample[], first = 1): { max: number; duplicates: number; jumps: Array<[number, number]>; error: string | undefined } {
  let max = first - 1;
  let duplicates = 0;
  const jumps: Array<[number, number]> = [];
  for (const x of samples) {
    const s = typeof x === 'number' ? x : x.seq;
    const skipped = typeof x === 'number' ? undefined : x.skipped;
    if (s <= max) duplicates++;
    else if (s === max + 1) max = s;
    else if (skipped && skipped[1] === s - 1 && skipped[0] <= max + 1) {
      jumps.push(skipped);
      max = s;
    } else return { max, duplicates, jumps, error: `seq ${s} arrived after ${max} (expected ${max + 1}${skipped ? `; it announced skipped ${JSON.stringify(skipped)}` : ', no "skipped" announced'})` };
  }
  return { max, duplicates, jumps, error: undefined };
}
