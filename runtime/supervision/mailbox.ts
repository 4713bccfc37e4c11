/**
 * A bounded mailbox with an explicit, counted overflow policy per message class.
 *
 * Classes (contract section 1: one event at a time, in arrival order):
 * - `tick`: the scheduler will send another one next period, so a tick is the cheapest thing to
 *   lose. When the box is full the OLDEST tick is evicted to make room (counted in `dropped.tick`).
 * - `event` (GPIO edge, serial frame, bus message): sensor data where the newest value matters most.
 *   When full: evict the oldest tick if there is one, else evict the OLDEST event (counted in
 *   `dropped.event`). Dropping the newest instead would freeze the component on stale data during a
 *   burst. If the box holds only commands, the incoming event is the one dropped (commands are never
 *   evicted to make room for data).
 * - `command` (from the broker or an operator): never dropped silently. When full, the oldest tick is
 *   evicted if there is one; otherwise the command is refused and the sender gets
 *   `{ ok: false, reason: 'mailbox-full' }` (counted in `rejected`). Commands never evict events.
 *
 * Ordering: one FIFO over all classes, so messages from one sender are delivered in the order sent
 * (evictions remove messages, they never reorder the survivors).
 *
 * Layout: a doubly linked list in arrival order (O(1) removal from the middle when a tick or event is
 * evicted) plus a singly linked list per class whose head is always that class's oldest message.
 * The message object itself is the list node, so a send costs one allocation.
 */

export type MessageClass = 'tick' | 'event' | 'command';

export interface Message<T = unknown> {
  readonly cls: MessageClass;
  /** Who sent it (component name, `scheduler`, `mqtt`, `gpio`, ...): FIFO is guaranteed per sender. */
  readonly from: string;
  readonly payload: T;
}

export type SendResult =
  | { readonly ok: true; readonly evicted?: MessageClass }
  | { readonly ok: false; readonly reason: RejectReason; readonly detail: string };

export type RejectReason = 'mailbox-full' | 'stopped' | 'failed' | 'restarting';

export interface DropCounters {
  tick: number;
  event: number;
}

/** Shared constant results: the hot path allocates nothing for the answer. */
export const SENT: SendResult = Object.freeze({ ok: true });
const SENT_EVICTED_TICK: SendResult = Object.freeze({ ok: true, evicted: 'tick' });
const SENT_EVICTED_EVENT: SendResult = Object.freeze({ ok: true, evicted: 'event' });
/** A dropped tick/event is still "ok" for the sender: the policy allowed it. */
const DROPPED_INCOMING: SendResult = Object.freeze({ ok: true, evicted: 'event' });

interface Node<T> extends Message<T> {
  prev: Node<T> | null;
  next: Node<T> | null;
  nextSame: Node<T> | null;
}

const CLS_INDEX: Record<MessageClass, 0 | 1 | 2> = { tick: 0, event: 1, command: 2 };

export class Mailbox<T = unknown> {
  readonly capacity: number;
  private head: Node<T> | null = null;
  private tail: Node<T> | null = null;
  private readonly clsHead: [Node<T> | null, Node<T> | null, Node<T> | null] = [null, null, null];
  private readonly clsTail: [Node<T> | null, Node<T> | null, Node<T> | null] = [null, null, null];
  private readonly clsCount: [number, number, number] = [0, 0, 0];
  private count = 0;
  readonly dropped: DropCounters = { tick: 0, event: 0 };
  rejected = 0;
  /** Called after a message is added to an empty-or-not box; the actor uses it to schedule a drain. */
  onPush: (() => void) | null = null;

  constructor(capacity: number) {
    if (!Number.isInteger(capacity) || capacity < 1) {
      throw new RangeError(`mailbox capacity must be an integer >= 1, got ${capacity}`);
    }
    this.capacity = capacity;
  }

  get size(): number {
    return this.count;
  }

  countOf(cls: MessageClass): number {
    return this.clsCount[CLS_INDEX[cls]];
  }

  /** Add a message, applying the overflow policy described at the top of this file. */
  push(cls: MessageClass, from: string, payload: T): SendResult {
    let result = SENT;
    if (this.count >= this.capacity) {
      if (this.clsCount[0] > 0) {
        this.evictOldest(0);
        this.dropped.tick++;
        result = SENT_EVICTED_TICK;
      } else if (cls === 'tick') {
        // Full of events/commands: the incoming tick is the oldest tick there is.
        this.dropped.tick++;
        return SENT_EVICTED_TICK;
      } else if (cls === 'event') {
        if (this.clsCount[1] > 0) {
          this.evictOldest(1);
          this.dropped.event++;
          result = SENT_EVICTED_EVENT;
        } else {
          this.dropped.event++;
          return DROPPED_INCOMING;
        }
      } else {
        this.rejected++;
        return {
          ok: false,
          reason: 'mailbox-full',
          detail: `mailbox full (${this.capacity} messages); the command was not queued, retry later or raise limits.mailbox`,
        };
      }
    }
    const i = CLS_INDEX[cls];
    const node: Node<T> = { cls, from, payload, prev: this.tail, next: null, nextSame: null };
    if (this.tail) this.tail.next = node;
    else this.head = node;
    this.tail = node;
    const ct = this.clsTail[i];
    if (ct) ct.nextSame = node;
    else this.clsHead[i] = node;
    this.clsTail[i] = node;
    this.clsCount[i]++;
    this.count++;
    if (this.onPush !== null) this.onPush();
    return result;
  }

  /** Take the oldest message, or undefined when empty. */
  shift(): Message<T> | undefined {
    const node = this.head;
    if (node === null) return undefined;
    // The oldest overall is necessarily the oldest of its class: pop it from both lists.
    const i = CLS_INDEX[node.cls];
    this.clsHead[i] = node.nextSame;
    if (node.nextSame === null) this.clsTail[i] = null;
    this.clsCount[i]--;
    this.unlink(node);
    return node;
  }

  /** Remove everything; returns how many messages were discarded (the caller counts them). */
  clear(): number {
    const n = this.count;
    this.head = this.tail = null;
    this.clsHead[0] = this.clsHead[1] = this.clsHead[2] = null;
    this.clsTail[0] = this.clsTail[1] = this.clsTail[2] = null;
    this.clsCount[0] = this.clsCount[1] = this.clsCount[2] = 0;
    this.count = 0;
    return n;
  }

  private evictOldest(i: 0 | 1 | 2): void {
    const node = this.clsHead[i]!;
    this.clsHead[i] = node.nextSame;
    if (node.nextSame === null) this.clsTail[i] = null;
    this.clsCount[i]--;
    this.unlink(node);
  }

  private unlink(node: Node<T>): void {
    if (node.prev) node.prev.next = node.next;
    else this.head = node.next;
    if (node.next) node.next.prev = node.prev;
    else this.tail = node.prev;
    node.prev = node.next = node.nextSame = null;
    this.count--;
  }
}
