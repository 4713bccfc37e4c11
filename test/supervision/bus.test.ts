import { describe, expect, it } from 'vitest';
import { Bus, filterCovers, isValidFilter, isValidTopicName, subscribeActor, topicMatches, type BusMessage } from '../../runtime/bus/index.js';
import { Mailbox, spawn } from '../../runtime/supervision/index.js';

describe('topic validation', () => {
  it('topic names', () => {
    for (const t of ['a', 'a/b', '/', '/a', 'a/', 'a//b', '$SYS/x', 'ünï/cödé', ' ']) expect(isValidTopicName(t), t).toBe(true);
    for (const t of ['', 'a/+', 'a/#', '+', '#', 'a+b', 'a\u0000b', 'x'.repeat(65_536)]) expect(isValidTopicName(t), t.slice(0, 10)).toBe(false);
    expect(isValidTopicName('é'.repeat(32_768))).toBe(false); // 65 536 bytes in UTF-8
  });

  it('filters', () => {
    for (const f of ['#', '+', 'a/#', 'a/+/b', '+/+', '/#', '+/', 'a//+', '$SYS/#', 'a/b']) expect(isValidFilter(f), f).toBe(true);
    for (const f of ['', 'a/#/b', 'a#', 'a/b#', '+a', 'a/+b', '##', 'a/#/', 'a\u0000']) expect(isValidFilter(f), f).toBe(false);
  });
});

describe('topic matching', () => {
  const cases: Array<[string, string, boolean]> = [
    ['a/b', 'a/b', true],
    ['a/b', 'a/c', false],
    ['a/+', 'a/b', true],
    ['a/+', 'a', false],
    ['a/+', 'a/b/c', false],
    ['a/+', 'a/', true], // empty level is a level
    ['+/+', '/x', true],
    ['+', '/x', false],
    ['a/#', 'a', true], // parent level
    ['a/#', 'a/b/c', true],
    ['a/#', 'ab', false],
    ['#', 'a/b', true],
    ['#', '/', true],
    ['+/#', 'a', true],
    ['a/+/#', 'a', false],
    ['a/+/#', 'a/b', true],
    ['#', '$SYS/x', false],
    ['+/x', '$SYS/x', false],
    ['$SYS/#', '$SYS/x', true],
    ['$SYS/+', '$SYS/x', true],
    ['a/#', 'a/$x', true], // `$` only matters at the first level
    ['A/b', 'a/b', false], // case sensitive
  ];
  for (const [filter, topic, expected] of cases) {
    it(`${filter} ${expected ? 'matches' : 'does not match'} ${topic}`, () => {
      expect(topicMatches(filter, topic)).toBe(expected);
      const bus = new Bus<number>();
      let hit = false;
      bus.subscribe('s', filter, () => void (hit = true));
      bus.publish('p', topic, 1);
      expect(hit).toBe(expected);
    });
  }
});

describe('filterCovers (capability checks)', () => {
  const cases: Array<[string, string, boolean]> = [
    ['#', 'a/b', true],
    ['#', '#', true],
    ['#', '$SYS/#', false],
    ['+/#', '$SYS/x', false],
    ['$SYS/#', '$SYS/x/+', true],
    ['thermo/#', 'thermo', true],
    ['thermo/#', 'thermo/#', true],
    ['thermo/#', 'thermo/+/x', true],
    ['thermo/#', 'thermostat/x', false],
    ['thermo/+', 'thermo/x', true],
    ['thermo/+', 'thermo/+', true],
    ['thermo/+', 'thermo/#', false], // inner also matches thermo and thermo/a/b
    ['thermo/+', 'thermo', false],
    ['thermo/+', 'thermo/a/b', false],
    ['thermo/x', 'thermo/+', false],
    ['a/+/#', 'a/#', false], // a/# matches `a`, a/+/# does not
    ['a/+/#', 'a/b/#', true],
    ['+/#', 'a/#', true],
    ['a/b', 'a/b', true],
    ['a/b', 'a/b/c', false],
    ['a/#', 'bad/#/x', false], // invalid inner
  ];
  for (const [outer, inner, expected] of cases) {
    it(`${outer} ${expected ? 'covers' : 'does not cover'} ${inner}`, () => expect(filterCovers(outer, inner)).toBe(expected));
  }
});

describe('bus', () => {
  it('reaches every matching subscriber once, and rejects invalid topics and filters', () => {
    const bus = new Bus<string>();
    const got: string[] = [];
    bus.subscribe('x', 'cmd/#', (_f, t) => void got.push(`x:${t}`));
    bus.subscribe('x', 'cmd/+', (_f, t) => void got.push(`x2:${t}`)); // same subscriber: once
    bus.subscribe('y', 'cmd/thermo', (_f, t) => void got.push(`y:${t}`));
    bus.subscribe('z', 'other/#', (_f, t) => void got.push(`z:${t}`));
    expect(bus.publish('mqtt', 'cmd/thermo', 'p')).toBe(2);
    expect(got.sort()).toEqual(['x:cmd/thermo', 'y:cmd/thermo']);
    expect(() => bus.publish('a', 'cmd/+', 'p')).toThrow(/not valid/);
    expect(() => bus.subscribe('a', 'cmd/#/x', () => undefined)).toThrow(/not valid/);
  });

  it('unsubscribe takes effect immediately (match cache invalidated)', () => {
    const bus = new Bus<number>();
    let n = 0;
    const off = bus.subscribe('s', 'a/+', () => void n++);
    bus.publish('p', 'a/b', 1);
    off();
    off();
    bus.publish('p', 'a/b', 1);
    expect(n).toBe(1);
    expect(bus.subscriptions).toBe(0);
    bus.subscribe('s2', 'a/b', () => void n++);
    bus.publish('p', 'a/b', 1);
    expect(n).toBe(2);
  });

  it('reports refusals (full mailbox, failed component) back to the publisher', () => {
    const bus = new Bus<number>();
    const box = new Mailbox<BusMessage<number>>(1);
    subscribeActor(bus, { id: 'thermo', send: (cls, from, p) => box.push(cls, from, p) }, 'cmd/#', 'command');
    const rejections: string[] = [];
    expect(bus.publish('mqtt', 'cmd/set', 1, (r) => rejections.push(`${r.subscriber}:${r.reason}`))).toBe(1);
    expect(bus.publish('mqtt', 'cmd/set', 2, (r) => rejections.push(`${r.subscriber}:${r.reason}`))).toBe(0);
    expect(rejections).toEqual(['thermo:mailbox-full']);
  });

  it('a throwing subscriber does not stop delivery to the others', () => {
    const bus = new Bus<number>();
    let ok = 0;
    bus.subscribe('bad', '#', () => {
      throw new Error('x');
    });
    bus.subscribe('good', '#', () => void ok++);
    const rej: string[] = [];
    bus.publish('p', 't', 1, (r) => rej.push(r.subscriber));
    expect(ok).toBe(1);
    expect(rej).toEqual(['bad']);
  });

  it('keeps per-sender order into an actor through the bus', async () => {
    const bus = new Bus<number>();
    const got: string[] = [];
    const a = spawn<BusMessage<number>>({ id: 'a', mailbox: 1000, handler: (m) => void got.push(`${m.from}:${m.payload.payload}`) });
    subscribeActor(bus, a, 'x/#');
    for (let i = 0; i < 100; i++) {
      bus.publish('s1', 'x/1', i);
      bus.publish('s2', `x/${i}`, i);
    }
    await new Promise((r) => setImmediate(r));
    for (const s of ['s1', 's2']) expect(got.filter((g) => g.startsWith(s)).map((g) => Number(g.split(':')[1]))).toEqual([...Array(100).keys()]);
  });
});
