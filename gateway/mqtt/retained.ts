import type { PublishOptions } from './connection.js';

/** The part of MqttConnection the cache uses (a structural type, so no import cycle). */
export interface RetainedLink {
  readonly connected: boolean;
  publish(topic: string, payload: string | Buffer, options?: PublishOptions): Promise<void>;
  /** A session began (CONNACK), before its subscriptions are renewed: publishing works from here. */
  on(event: 'session', listener: () => void): unknown;
}

/**
 * How a retained topic is kept:
 * - `until-sent`: a publish that cannot go out now (offline, or the session dropped before the
 *   broker acknowledged it) is held — the latest per topic, which is all a retained topic holds —
 *   and sent on the next connect, unless a newer one for that topic went out first. Its callback
 *   runs once it is sent (OTA statuses: `rolled-back … restarted during probation` is made before
 *   the first CONNACK).
 * - `every-connect`: the latest value is sent now if connected and again after every connect (and
 *   on `republish()`), until `forget()`: a broker restarted without persistence, or a late start,
 *   still shows it (component states).
 */
export type RetainMode = 'until-sent' | 'every-connect';

interface Held {
  payload: string | Buffer;
  qos: 0 | 1 | 2;
  done: ((err?: Error) => void) | undefined;
}

/**
 * The one retained cache of a broker session (`MqttConnection.retained`). The connection itself
 * queues nothing while it is down; whatever must survive an outage on a retained topic goes
 * through here, so every user (component states, OTA statuses, CLI ports) gets the same rules.
 */
export class RetainedCache {
  private readonly held = new Map<string, Held>();
  private readonly kept = new Map<string, { payload: string | Buffer; qos: 0 | 1 | 2 }>();

  constructor(private readonly link: RetainedLink) {
    // At the CONNACK, not at the end of the session's setup (subscriptions, birth): nothing the new
    // session receives has been acted on yet, so a held value is sent before anything newer exists
    // (an OTA status or state caused by a retained envelope would otherwise supersede it unsent).
    link.on('session', () => {
      const all = [...this.held];
      this.held.clear();
      for (const [topic, h] of all) this.send(topic, h);
      void this.republish();
    });
  }

  /**
   * Publishes `payload` retained on `topic`. `done` (until-sent only) is called once: after the
   * broker acknowledged it, or with the error when it failed while the session was up. A held
   * message superseded by a newer one for its topic is dropped without a call.
   */
  publish(topic: string, payload: string | Buffer, options: { qos?: 0 | 1 | 2; mode?: RetainMode } = {}, done?: (err?: Error) => void): Promise<void> {
    const qos = options.qos ?? 1;
    if (options.mode === 'every-connect') {
      this.kept.set(topic, { payload, qos });
      return this.sendKept(topic);
    }
    const h: Held = { payload, qos, done };
    if (!this.link.connected) {
      this.held.set(topic, h);
      return Promise.resolve();
    }
    this.held.delete(topic); // superseded: an older value must not overwrite this one after a reconnect
    this.send(topic, h);
    return Promise.resolve();
  }

  /** Sends every `every-connect` topic (under `prefix`, if given) again now; failures are dropped (the next connect resends). */
  republish(prefix?: string): Promise<void> {
    const topics = [...this.kept.keys()].filter((t) => prefix === undefined || t.startsWith(prefix));
    return Promise.all(topics.map((t) => this.sendKept(t))).then(() => {});
  }

  /** Stops keeping `topic` (`every-connect`): it is not sent again. */
  forget(topic: string): void {
    this.kept.delete(topic);
  }

  private sendKept(topic: string): Promise<void> {
    const k = this.kept.get(topic);
    if (!k || !this.link.connected) return Promise.resolve();
    return this.link.publish(topic, k.payload, { qos: k.qos, retain: true }).catch(() => {});
  }

  private send(topic: string, h: Held): void {
    this.link.publish(topic, h.payload, { qos: h.qos, retain: true }).then(
      () => h.done?.(),
      (err: Error) => {
        // Dropped with the session: keep it for the next connect unless something newer is queued.
        if (!this.link.connected && !this.held.has(topic)) this.held.set(topic, h);
        else h.done?.(err);
      },
    );
  }
}
