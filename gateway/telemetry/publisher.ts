import { NotConnectedError } from '../mqtt/connection.js';
import { topics } from '../mqtt/topics.js';
import type { Outbox, OutboxRow } from './outbox.js';
import { codedError } from '../../runtime/errors.js';

/**
 * Drains the outbox into the broker at QoS 1.
 *
 * - At most `window` publishes wait for PUBACK at any time: MQTT.js fired without backpressure
 *   collapses (200k unbounded QoS 1 publishes fell to ~600 msg/s), a window of ~100 sustains >20k/s.
 * - Order: strict per channel. Each (component, channel) is a stream read in id order; one TCP
 *   session keeps publishes of a stream in order. After a reconnect every stream is re-read from its
 *   oldest unacknowledged sample (at-least-once: consumers dedupe on `seq`).
 * - Fairness instead of FIFO across channels: streams are served round-robin, two levels deep
 *   (components, then channels within a component), `quantum` samples per turn. A channel's live
 *   samples always follow its own backlog (per-channel order forbids anything else), but a backlog
 *   in one channel or component never delays another: after an outage a 1 Hz channel is current again
 *   within a few turns while a 1 kHz channel is still catching up.
 */

/** The outbox has no stream of that id (a row outlived its stream record). */
const UnknownStream = codedError<[number]>('OUTBOX_STREAM', 'outbox stream %s is unknown; restart the gateway (the outbox keeps every sample)');
/** The client rejected a publish without saying why. */
const PublishFailed = codedError<[]>('MQTT_ERROR', 'publish failed without a reason from the MQTT client; the sample stays in the outbox and is sent again');

export interface PublisherConnection {
  readonly connected: boolean;
  publish(topic: string, payload: string | Buffer, options: { qos?: 0 | 1 | 2; retain?: boolean }): Promise<void>;
  /** Optional callback form (MqttConnection has it): saves a Promise per sample. */
  send?(topic: string, payload: string | Buffer, options: { qos?: 0 | 1 | 2; retain?: boolean }, done: (err?: Error) => void): void;
  on(event: 'connect' | 'disconnect', listener: (...args: unknown[]) => void): unknown;
  off(event: 'connect' | 'disconnect', listener: (...args: unknown[]) => void): unknown;
}

export interface TelemetryPublisherOptions {
  outbox: Outbox;
  connection: PublisherConnection;
  topicPrefix: string;
  gatewayId: string;
  /** Publishes in flight (awaiting PUBACK) at most. */
  window?: number;
  /** Samples read from the outbox per stream at a time. */
  readBatch?: number;
  /** Samples a stream may send per round-robin turn. */
  quantum?: number;
  /** Delay before retrying a sample the broker refused (PUBACK with an error reason). */
  retryDelayMs?: number;
}

export interface PublisherStats {
  inflight: number;
  published: number;
  acked: number;
  /** PUBACKs with an error reason code (e.g. not authorized); those samples are retried. */
  refused: number;
  resends: number;
}

interface Stream {
  id: number;
  topic: string;
  buffer: OutboxRow[];
  pos: number;
  /** Last id read from the outbox. */
  cursor: number;
  /** The outbox had nothing after `cursor` when last read, and no sample was appended to this stream since. */
  exhausted: boolean;
}

interface Group {
  streams: Stream[];
  rr: number;
}

export class TelemetryPublisher {
  private readonly outbox: Outbox;
  private readonly conn: PublisherConnection;
  private readonly window: number;
  private readonly readBatch: number;
  private readonly quantum: number;
  private readonly retryDelayMs: number;
  private readonly streams = new Map<number, Stream>();
  private readonly groups = new Map<string, Group>();
  private groupList: Group[] = [];
  private grr = 0;
  private inflight = 0;
  private epoch = 0;
  private running = false;
  private pumpScheduled = false;
  private retryTimer: NodeJS.Timeout | undefined;
  private unsubscribeFlush: (() => void) | undefined;
  private readonly idleWaiters: Array<() => void> = [];
  private readonly s: PublisherStats = { inflight: 0, published: 0, acked: 0, refused: 0, resends: 0 };

  /** True between our `connect` handling and the next `disconnect`: the cursors belong to this session. */
  private session = false;
  private readonly onConnect = () => {
    this.session = true;
    this.resync();
  };
  private readonly onDisconnect = () => {
    this.session = false;
    // Every publish of the old session is rejected (NotConnectedError) by the connection; a new epoch
    // makes their late callbacks harmless.
    this.epoch++;
    this.inflight = 0;
  };

  constructor(private readonly opts: TelemetryPublisherOptions) {
    this.outbox = opts.outbox;
    this.conn = opts.connection;
    this.window = opts.window ?? 100;
    this.readBatch = opts.readBatch ?? 512;
    this.quantum = opts.quantum ?? 32;
    this.retryDelayMs = opts.retryDelayMs ?? 1000;
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    this.conn.on('connect', this.onConnect);
    this.conn.on('disconnect', this.onDisconnect);
    this.unsubscribeFlush = this.outbox.onData((touched) => {
      for (const id of touched) this.stream(id).exhausted = false;
      this.schedulePump();
    });
    // Already connected: this session is ours to use. Otherwise wait for `connect` (a pump between
    // CONNACK and our resync would publish from stale cursors, out of order).
    this.session = this.conn.connected;
    this.resync();
  }

  /** Stops publishing; waits up to `drainMs` for in-flight publishes to be acknowledged. */
  async stop(options: { drainMs?: number } = {}): Promise<void> {
    if (!this.running) return;
    this.running = false;
    this.conn.off('connect', this.onConnect);
    this.conn.off('disconnect', this.onDisconnect);
    this.unsubscribeFlush?.();
    if (this.retryTimer) clearTimeout(this.retryTimer);
    if (this.inflight > 0 && (options.drainMs ?? 2000) > 0) {
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, options.drainMs ?? 2000);
        this.idleWaiters.push(() => (clearTimeout(t), resolve()));
      });
    }
  }

  stats(): PublisherStats {
    return { ...this.s, inflight: this.inflight };
  }

  /** Resolves when nothing is stored, queued or in flight (tests, benches, graceful shutdown). */
  async drained(pollMs = 20): Promise<void> {
    for (;;) {
      this.outbox.flush();
      if (this.outbox.stats().depth === 0 && this.inflight === 0) return;
      await new Promise((r) => setTimeout(r, pollMs));
    }
  }

  /**
   * Forget what was read; re-read every stream from its oldest unacknowledged sample (acknowledged
   * ones are hidden by the outbox's reads at once, so nothing is committed here: no disk write).
   */
  private resync(): void {
    this.epoch++;
    this.inflight = 0;
    for (const info of this.outbox.streams()) {
      const s = this.stream(info.id);
      if (s.cursor > 0 || s.pos < s.buffer.length) this.s.resends++;
      s.buffer = [];
      s.pos = 0;
      s.cursor = 0;
      s.exhausted = false;
    }
    this.schedulePump();
  }

  private stream(id: number): Stream {
    let s = this.streams.get(id);
    if (!s) {
      const info = this.outbox.streamInfo(id);
      if (!info) throw new UnknownStream(id);
      s = { id, topic: topics.telemetry(this.opts.topicPrefix, this.opts.gatewayId, info.component, info.channel), buffer: [], pos: 0, cursor: 0, exhausted: false };
      this.streams.set(id, s);
      let g = this.groups.get(info.component);
      if (!g) {
        g = { streams: [], rr: 0 };
        this.groups.set(info.component, g);
        this.groupList.push(g);
      }
      g.streams.push(s);
    }
    return s;
  }

  private schedulePump(): void {
    if (this.pumpScheduled || !this.running) return;
    this.pumpScheduled = true;
    queueMicrotask(() => {
      this.pumpScheduled = false;
      this.pump();
    });
  }

  private pump(): void {
    if (!this.running || !this.session || !this.conn.connected) return;
    while (this.inflight < this.window) {
      const s = this.pick();
      if (!s) break;
      const n = Math.min(this.quantum, this.window - this.inflight);
      for (let i = 0; i < n; i++) {
        const row = this.next(s);
        if (!row) break;
        this.send(s, row);
      }
    }
    if (this.inflight === 0) this.notifyIdle();
  }

  /** Next stream with something to send, round-robin over components, then channels. */
  private pick(): Stream | undefined {
    const groups = this.groupList;
    for (let gi = 0; gi < groups.length; gi++) {
      const gIdx = (this.grr + gi) % groups.length;
      const g = groups[gIdx]!;
      for (let si = 0; si < g.streams.length; si++) {
        const sIdx = (g.rr + si) % g.streams.length;
        const s = g.streams[sIdx]!;
        if (s.pos < s.buffer.length || !s.exhausted) {
          if (s.pos >= s.buffer.length && !this.refill(s)) continue;
          g.rr = (sIdx + 1) % g.streams.length;
          this.grr = (gIdx + 1) % groups.length;
          return s;
        }
      }
    }
    return undefined;
  }

  private refill(s: Stream): boolean {
    const rows = this.outbox.read(s.id, s.cursor, this.readBatch);
    if (rows.length < this.readBatch) s.exhausted = true;
    if (rows.length === 0) return false;
    s.buffer = rows;
    s.pos = 0;
    s.cursor = rows[rows.length - 1]!.id;
    return true;
  }

  private next(s: Stream): OutboxRow | undefined {
    if (s.pos >= s.buffer.length && (s.exhausted || !this.refill(s))) return undefined;
    return s.buffer[s.pos++];
  }

  private send(s: Stream, row: OutboxRow): void {
    const epoch = this.epoch;
    this.inflight++;
    this.s.published++;
    // `skipped` only on the first sample after a jump over never-published numbers (contract 7.4).
    const tail = row.skipped ? `,"seq":${row.seq},"skipped":[${row.skipped[0]},${row.skipped[1]}]}` : `,"seq":${row.seq}}`;
    const payload = row.kind === 0 ? `{"value":${row.payload},"ts":${row.ts}${tail}` : `{"json":${row.payload},"ts":${row.ts}${tail}`;
    const done = (err?: unknown): void => {
      if (err === undefined) {
        // A PUBACK counts even from an old session: the broker has the sample.
        this.outbox.ack(row.id);
        this.s.acked++;
        if (epoch !== this.epoch) return;
        this.inflight--;
        if (this.inflight === 0) this.notifyIdle();
        this.schedulePump();
        return;
      }
      if (epoch !== this.epoch) return;
      this.inflight--;
      if (this.inflight === 0) this.notifyIdle();
      if (err instanceof NotConnectedError) return; // resync on the next connect
      // The broker refused it (PUBACK reason >= 0x80). Never drop: retry the stream later.
      this.s.refused++;
      if (!this.retryTimer) {
        this.retryTimer = setTimeout(() => {
          this.retryTimer = undefined;
          if (this.running && this.session) this.resync();
        }, this.retryDelayMs);
      }
    };
    if (this.conn.send) this.conn.send(s.topic, payload, { qos: 1 }, done);
    else this.conn.publish(s.topic, payload, { qos: 1 }).then(() => done(), (e: unknown) => done(e ?? new PublishFailed()));
  }

  private notifyIdle(): void {
    const w = this.idleWaiters.splice(0);
    for (const f of w) f();
  }
}
