import { GatewayError } from '../errors.js';
import type { SendResult } from '../supervision/mailbox.js';
import { isValidFilter, isValidTopicName } from './topic.js';

/**
 * The in-process message bus: `messaging.send` from one component, and commands from the broker,
 * reach every subscriber whose MQTT-style filter matches.
 *
 * Matching walks a subscription trie (one node per filter level, with `+` and `#` branches); the
 * result per topic is cached until the subscriptions change, so the hot path is one Map lookup and
 * a loop. A subscriber with several matching filters receives the message once.
 *
 * Ordering: publish delivers synchronously into the subscribers' mailboxes, in call order, and
 * mailboxes are FIFO, so messages from one sender arrive in the order sent.
 */

export type Deliver<P> = (from: string, topic: string, payload: P) => SendResult | void;

export interface Rejection {
  subscriber: string;
  reason: string;
  detail: string;
}

interface Entry<P> {
  readonly subscriber: string;
  readonly filter: string;
  readonly deliver: Deliver<P>;
}

interface Node<P> {
  children: Map<string, Node<P>>;
  plus: Node<P> | null;
  /** Subscriptions whose filter ends here. */
  exact: Entry<P>[];
  /** Subscriptions whose filter is `<this node's path>/#`. */
  hash: Entry<P>[];
}

const newNode = <P>(): Node<P> => ({ children: new Map(), plus: null, exact: [], hash: [] });

export interface BusOptions {
  /** Distinct topics whose match lists are cached. Default 4096. */
  cacheSize?: number;
}

export class Bus<P = Uint8Array> {
  private readonly root: Node<P> = newNode();
  private readonly cache = new Map<string, Entry<P>[]>();
  private readonly cacheSize: number;
  private count = 0;

  constructor(opts: BusOptions = {}) {
    this.cacheSize = opts.cacheSize ?? 4096;
  }

  get subscriptions(): number {
    return this.count;
  }

  /** Subscribe `subscriber` to `filter`; returns the unsubscribe function. */
  subscribe(subscriber: string, filter: string, deliver: Deliver<P>): () => void {
    if (!isValidFilter(filter)) {
      throw new GatewayError('INVALID_TOPIC_FILTER', `topic filter "${filter}" is not valid; use levels separated by "/", "+" for one whole level, "#" only as the last level`);
    }
    const levels = filter.split('/');
    let node = this.root;
    const last = levels[levels.length - 1] === '#' ? levels.length - 1 : levels.length;
    for (let i = 0; i < last; i++) {
      const l = levels[i]!;
      if (l === '+') node = node.plus ??= newNode();
      else {
        let next = node.children.get(l);
        if (!next) node.children.set(l, (next = newNode()));
        node = next;
      }
    }
    const entry: Entry<P> = { subscriber, filter, deliver };
    const list = last < levels.length ? node.hash : node.exact;
    list.push(entry);
    this.count++;
    this.cache.clear();
    let done = false;
    return () => {
      if (done) return;
      done = true;
      const i = list.indexOf(entry);
      if (i >= 0) list.splice(i, 1);
      this.count--;
      this.cache.clear();
      // Empty nodes are left in place: subscriptions change rarely (component start/stop) and the
      // filter set is small, so pruning is not worth the code.
    };
  }

  /**
   * Deliver to every matching subscriber. Returns how many accepted it; refusals (a command into a
   * full mailbox, a failed component) are reported through `onReject` so the sender hears the reason.
   */
  publish(from: string, topic: string, payload: P, onReject?: (r: Rejection) => void): number {
    let entries = this.cache.get(topic);
    if (entries === undefined) {
      if (!isValidTopicName(topic)) {
        throw new GatewayError('INVALID_TOPIC', `topic "${topic}" is not valid; use a non-empty name without "+", "#" or NUL`);
      }
      entries = this.match(topic);
      if (this.cache.size >= this.cacheSize) this.cache.clear();
      this.cache.set(topic, entries);
    }
    let accepted = 0;
    for (let i = 0; i < entries.length; i++) {
      const e = entries[i]!;
      let r: SendResult | void;
      try {
        r = e.deliver(from, topic, payload);
      } catch (err) {
        // One broken subscriber must not stop delivery to the others.
        onReject?.({ subscriber: e.subscriber, reason: 'error', detail: err instanceof Error ? err.message : String(err) });
        continue;
      }
      if (r === undefined || r.ok) accepted++;
      else onReject?.({ subscriber: e.subscriber, reason: r.reason, detail: r.detail });
    }
    return accepted;
  }

  /** Subscribers (one entry each) whose filter matches `topic`, in subscription-trie order. */
  match(topic: string): Entry<P>[] {
    const levels = topic.split('/');
    const out: Entry<P>[] = [];
    const seen = new Set<string>();
    const add = (list: Entry<P>[]): void => {
      for (const e of list) {
        if (!seen.has(e.subscriber)) {
          seen.add(e.subscriber);
          out.push(e);
        }
      }
    };
    const dollar = topic.charCodeAt(0) === 0x24; /* $ */
    const walk = (node: Node<P>, i: number): void => {
      const wild = !(i === 0 && dollar);
      if (i === levels.length) {
        add(node.exact);
        add(node.hash); // `a/#` matches `a`
        return;
      }
      if (wild) add(node.hash);
      const child = node.children.get(levels[i]!);
      if (child) walk(child, i + 1);
      if (wild && node.plus) walk(node.plus, i + 1);
    };
    walk(this.root, 0);
    return out;
  }
}

/** What an actor subscribed through `subscribeActor` receives. */
export interface BusMessage<P> {
  topic: string;
  payload: P;
}

/** Route matching messages into an actor's mailbox (an ActorRef or Actor), as `event` by default. */
export function subscribeActor<P>(
  bus: Bus<P>,
  target: { id: string; send(cls: 'event' | 'command', from: string, payload: BusMessage<P>): SendResult },
  filter: string,
  cls: 'event' | 'command' = 'event',
): () => void {
  return bus.subscribe(target.id, filter, (from, topic, payload) => target.send(cls, from, { topic, payload }));
}
