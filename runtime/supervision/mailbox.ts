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
  // Per-class list heads, tails and counts as plain fields (0 tick, 1 event, 2 command) rather than
  // arrays: a mailbox is created per actor spawn, and each array is one more allocation.
  private h0: Node<T> | null = null;
  private h1: Node<T> | null = null;
  private h2: Node<T> | null = null;
  private t0: Node<T> | null = null;
  private t1: Node<T> | null = null;
  private t2: Node<T> | null = null;
  private n0 = 0;
  private n1 = 0;
  private n2 = 0;
  private count = 0;
  readonly dropped: DropCounters = { tick: 0, event: 0 };
  rejected = 0;
  /** Woken after every push; the actor uses it to schedule a drain (an object, not a closure: one allocation less per spawn). */
  owner: { wake(): void } | null = null;

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
    const i = CLS_INDEX[cls];
    return i === 0 ? this.n0 : i === 1 ? this.n1 : this.n2;
  }

  /** Add a message, applying the overflow policy described at the top of this file. */
  push(cls: MessageClass, from: string, payload: T): SendResult {
    let result = SENT;
    if (this.count >= this.capacity) {
      if (this.n0 > 0) {
        this.evictOldest(0);
        this.dropped.tick++;
        result = SENT_EVICTED_TICK;
      } else if (cls === 'tick') {
        // Full of events/commands: the incoming tick is the oldest tick there is.
        this.dropped.tick++;
        return SENT_EVICTED_TICK;
      } else if (cls === 'event') {
        if (this.n1 > 0) {
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
    const node: Node<T> = { cls, from, payload, prev: this.tail, next: null, nextSame: null };
    if (this.tail) this.tail.next = node;
    else this.head = node;
    this.tail = node;
    const i = CLS_INDEX[cls];
    if (i === 0) {
      if (this.t0) this.t0.nextSame = node;
      else this.h0 = node;
      this.t0 = node;
      this.n0++;
    } else if (i === 1) {
      if (this.t1) this.t1.nextSame = node;
      else this.h1 = node;
      this.t1 = node;
      this.n1++;
    } else {
      if (this.t2) this.t2.nextSame = node;
      else this.h2 = node;
      this.t2 = node;
      this.n2++;
    }
    this.count++;
    if (this.owner !== null) this.owner.wake();
    return result;
  }

  /** Take the oldest message, or undefined when empty. */
  shift(): Message<T> | undefined {
    const node = this.head;
    if (node === null) return undefined;
    // The oldest overall is necessarily the oldest of its class: pop it from both lists.
    this.popClassHead(CLS_INDEX[node.cls]);
    this.unlink(node);
    return node;
  }

  /** Remove everything; returns how many messages were discarded (the caller counts them). */
  clear(): number {
    const n = this.count;
    this.head = this.tail = null;
    this.h0 = this.h1 = this.h2 = this.t0 = this.t1 = this.t2 = null;
    this.n0 = this.n1 = this.n2 = 0;
    this.count = 0;
    return n;
  }

  private evictOldest(i: 0 | 1 | 2): void {
    this.unlink(this.popClassHead(i));
  }

  /** Remove and return the head of class list i (the caller knows it is non-empty). */
  private popClassHead(i: 0 | 1 | 2): Node<T> {
    let node: Node<T>;
    if (i === 0) {
      node = this.h0!;
      this.h0 = node.nextSame;
      if (this.h0 === null) this.t0 = null;
      this.n0--;
    } else if (i === 1) {
      node = this.h1!;
      this.h1 = node.nextSame;
      if (this.h1 === null) this.t1 = null;
      this.n1--;
    } else {
      node = this.h2!;
      this.h2 = node.nextSame;
      if (this.h2 === null) this.t2 = null;
      this.n2--;
    }
    return node;
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
