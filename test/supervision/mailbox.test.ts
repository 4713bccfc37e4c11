import { describe, expect, it } from 'vitest';
import { Mailbox, type Message } from '../../runtime/supervision/index.js';

const drain = <T>(m: Mailbox<T>): Array<Message<T>> => {
  const out: Array<Message<T>> = [];
  for (let x = m.shift(); x; x = m.shift()) out.push(x);
  return out;
};
const ids = <T>(msgs: Array<Message<T>>) => msgs.map((m) => `${m.cls[0]}${String(m.payload)}`);

describe('mailbox overflow policy', () => {
  it('rejects a capacity below 1', () => {
    expect(() => new Mailbox(0)).toThrow(RangeError);
  });

  it('full of ticks: the oldest tick is dropped and counted', () => {
    const m = new Mailbox<number>(3);
    for (let i = 1; i <= 5; i++) expect(m.push('tick', 'sched', i).ok).toBe(true);
    expect(m.dropped.tick).toBe(2);
    expect(ids(drain(m))).toEqual(['t3', 't4', 't5']);
  });

  it('an event evicts the oldest tick first, then the oldest event', () => {
    const m = new Mailbox<number>(3);
    m.push('event', 'gpio', 1);
    m.push('tick', 'sched', 2);
    m.push('event', 'gpio', 3);
    expect(m.push('event', 'gpio', 4)).toEqual({ ok: true, evicted: 'tick' });
    expect(m.push('event', 'gpio', 5)).toEqual({ ok: true, evicted: 'event' });
    expect(m.dropped).toEqual({ tick: 1, event: 1 });
    expect(ids(drain(m))).toEqual(['e3', 'e4', 'e5']);
  });

  it('a tick arriving in a box full of events/commands is itself dropped', () => {
    const m = new Mailbox<number>(2);
    m.push('event', 'gpio', 1);
    m.push('command', 'mqtt', 2);
    m.push('tick', 'sched', 3);
    expect(m.dropped.tick).toBe(1);
    expect(ids(drain(m))).toEqual(['e1', 'c2']);
  });

  it('commands are never dropped silently: rejected with a reason when no tick can make room', () => {
    const m = new Mailbox<number>(2);
    m.push('tick', 'sched', 1);
    m.push('event', 'gpio', 2);
    expect(m.push('command', 'mqtt', 3)).toEqual({ ok: true, evicted: 'tick' });
    const r = m.push('command', 'mqtt', 4);
    expect(r.ok).toBe(false);
    if (!r.ok) {
      expect(r.reason).toBe('mailbox-full');
      expect(r.detail).toMatch(/limits\.mailbox/);
    }
    expect(m.rejected).toBe(1);
    // Commands do not evict events either.
    expect(ids(drain(m))).toEqual(['e2', 'c3']);
  });

  it('events never evict commands: with only commands queued, the incoming event is dropped', () => {
    const m = new Mailbox<number>(2);
    m.push('command', 'mqtt', 1);
    m.push('command', 'mqtt', 2);
    m.push('event', 'gpio', 3);
    expect(m.dropped.event).toBe(1);
    expect(ids(drain(m))).toEqual(['c1', 'c2']);
  });

  it('keeps FIFO per sender (and overall) across evictions', () => {
    const m = new Mailbox<string>(5);
    const sent: Record<string, string[]> = { a: [], b: [] };
    for (let i = 0; i < 40; i++) {
      const from = i % 3 === 0 ? 'b' : 'a';
      const cls = i % 4 === 0 ? 'tick' : 'event';
      m.push(cls, from, `${from}${i}`);
      sent[from]!.push(`${from}${i}`);
      if (i % 7 === 0) m.shift();
    }
    const got = drain(m);
    for (const from of ['a', 'b']) {
      const order = got.filter((x) => x.from === from).map((x) => sent[from]!.indexOf(x.payload));
      expect(order).toEqual([...order].sort((x, y) => x - y));
    }
    expect(m.size).toBe(0);
    expect(m.countOf('tick') + m.countOf('event') + m.countOf('command')).toBe(0);
  });

  it('counts per class stay consistent through push, evict, shift and clear', () => {
    const m = new Mailbox<number>(4);
    m.push('tick', 's', 1);
    m.push('event', 's', 2);
    m.push('command', 's', 3);
    m.push('tick', 's', 4);
    m.push('event', 's', 5); // evicts tick 1
    expect([m.countOf('tick'), m.countOf('event'), m.countOf('command'), m.size]).toEqual([1, 2, 1, 4]);
    m.shift();
    expect([m.countOf('tick'), m.countOf('event'), m.countOf('command'), m.size]).toEqual([1, 1, 1, 3]);
    expect(m.clear()).toBe(3);
    expect(m.shift()).toBeUndefined();
    m.push('event', 's', 9);
    expect(ids(drain(m))).toEqual(['e9']);
  });
});
