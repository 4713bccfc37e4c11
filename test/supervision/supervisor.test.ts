import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { backoffDelay as delayAt } from '../../runtime/backoff.js';
import { Supervisor, supervisorSpec, type LifecycleEvent, type Strategy, type SupervisorOptions } from '../../runtime/supervision/index.js';
import { fake, flush, type FakeChild } from './helpers.js';

/** The root of a tree: nobody to escalate to, so it defaults to `failed` + slow retry. */
async function startTree(opts: SupervisorOptions): Promise<Supervisor> {
  const s = new Supervisor(opts);
  await s.start();
  return s;
}

const NO_BACKOFF = false as const;

async function tree(strategy: Strategy, children: FakeChild[], extra: Partial<ConstructorParameters<typeof Supervisor>[0]> = {}) {
  const s = new Supervisor({ id: 'root', strategy, intensity: 10, periodMs: 1000, backoff: NO_BACKOFF, children: children.map((c) => c.spec), ...extra });
  const events: LifecycleEvent[] = [];
  s.on((e) => events.push(e));
  await s.start();
  return { s, events };
}

async function settle(s: Supervisor): Promise<void> {
  await flush();
  await s.idle();
  await flush();
}

describe('restart strategies × child types (OTP)', () => {
  it('one-for-one restarts only the crashed child', async () => {
    const log: string[] = [];
    const [a, b, c] = ['a', 'b', 'c'].map((id) => fake(log, id));
    const { s } = await tree('one-for-one', [a!, b!, c!]);
    log.length = 0;
    b!.current.crash();
    await settle(s);
    expect(log).toEqual(['start:b']);
    expect([a!.starts, b!.starts, c!.starts]).toEqual([1, 2, 1]);
  });

  it('one-for-all stops the others in reverse order, then starts all in order', async () => {
    const log: string[] = [];
    const [a, b, c] = ['a', 'b', 'c'].map((id) => fake(log, id));
    const { s } = await tree('one-for-all', [a!, b!, c!]);
    log.length = 0;
    b!.current.crash();
    await settle(s);
    expect(log).toEqual(['stop:c', 'stop:a', 'start:a', 'start:b', 'start:c']);
  });

  it('rest-for-one stops and restarts the crashed child and the ones started after it', async () => {
    const log: string[] = [];
    const [a, b, c, d] = ['a', 'b', 'c', 'd'].map((id) => fake(log, id));
    const { s } = await tree('rest-for-one', [a!, b!, c!, d!]);
    log.length = 0;
    b!.current.crash();
    await settle(s);
    expect(log).toEqual(['stop:d', 'stop:c', 'start:b', 'start:c', 'start:d']);
    expect(a!.starts).toBe(1);
  });

  it('permanent: restarted even after a normal exit', async () => {
    const log: string[] = [];
    const a = fake(log, 'a');
    const { s } = await tree('one-for-one', [a]);
    a.current.exitNormal('normal');
    await settle(s);
    expect(a.starts).toBe(2);
  });

  it('transient: restarted after a crash, not after normal or shutdown exits', async () => {
    const log: string[] = [];
    const t = fake(log, 't', { restart: 'transient' });
    const { s, events } = await tree('one-for-one', [t]);
    t.current.crash();
    await settle(s);
    expect(t.starts).toBe(2);
    t.current.exitNormal('normal');
    await settle(s);
    expect(t.starts).toBe(2);
    expect(s.whichChildren()).toEqual([expect.objectContaining({ id: 't', status: 'stopped' })]);
    expect(events.at(-1)).toMatchObject({ id: 't', state: 'stopped', reason: 'normal' });

    const log2: string[] = [];
    const t2 = fake(log2, 't2', { restart: 'transient' });
    const r2 = await tree('one-for-one', [t2]);
    t2.current.exitNormal('shutdown');
    await settle(r2.s);
    expect(t2.starts).toBe(1);
  });

  it('transient normal exit under one-for-all does not touch its siblings', async () => {
    const log: string[] = [];
    const a = fake(log, 'a');
    const t = fake(log, 't', { restart: 'transient' });
    const { s } = await tree('one-for-all', [a, t]);
    log.length = 0;
    t.current.exitNormal();
    await settle(s);
    expect(log).toEqual([]);
  });

  it('temporary: never restarted and removed, without using restart intensity', async () => {
    const log: string[] = [];
    const tmp = fake(log, 'tmp', { restart: 'temporary' });
    const a = fake(log, 'a');
    const { s } = await tree('one-for-one', [tmp, a], { intensity: 0 });
    tmp.current.crash();
    await settle(s);
    expect(tmp.starts).toBe(1);
    expect(s.whichChildren().map((c) => c.id)).toEqual(['a']);
    expect(s.state).toBe('running');
  });

  for (const strategy of ['one-for-all', 'rest-for-one'] as const) {
    it(`${strategy}: a temporary sibling taken down by a crash is removed, not restarted`, async () => {
      const log: string[] = [];
      const a = fake(log, 'a');
      const tmp = fake(log, 'tmp', { restart: 'temporary' });
      const c = fake(log, 'c');
      const { s, events } = await tree(strategy, [a, tmp, c]);
      log.length = 0;
      a.current.crash();
      await settle(s);
      expect(log).toEqual(['stop:c', 'stop:tmp', 'start:a', 'start:c']);
      expect(tmp.starts).toBe(1);
      expect(s.whichChildren().map((x) => x.id)).toEqual(['a', 'c']);
      expect(events.filter((e) => e.id === 'tmp').at(-1)).toMatchObject({ state: 'stopped' });
    });
  }

  it('one-for-all also restarts a transient sibling that had stopped normally (OTP start_children)', async () => {
    const log: string[] = [];
    const a = fake(log, 'a');
    const t = fake(log, 't', { restart: 'transient' });
    const { s } = await tree('one-for-all', [a, t]);
    t.current.exitNormal();
    await settle(s);
    a.current.crash();
    await settle(s);
    expect(t.starts).toBe(2);
  });

  it('transient and permanent siblings are restarted by one-for-all even if they did not crash', async () => {
    const log: string[] = [];
    const a = fake(log, 'a', { restart: 'transient' });
    const b = fake(log, 'b');
    const { s } = await tree('one-for-all', [a, b]);
    b.current.crash();
    await settle(s);
    expect([a.starts, b.starts]).toEqual([2, 2]);
  });
});

describe('restart intensity', () => {
  beforeEach(() => {
    vi.useFakeTimers();
    vi.setSystemTime(0);
  });
  afterEach(() => vi.useRealTimers());

  it('more than `intensity` restarts within the period makes the supervisor give up', async () => {
    const log: string[] = [];
    const a = fake(log, 'a');
    const b = fake(log, 'b');
    const s = new Supervisor({ id: 'sub', intensity: 2, periodMs: 1000, backoff: false, onMaxIntensity: 'escalate', children: [a.spec, b.spec] });
    const exits: unknown[] = [];
    s.onExit((r) => exits.push(r));
    await s.start();
    a.current.crash();
    await settle(s);
    vi.setSystemTime(100);
    a.current.crash();
    await settle(s);
    expect(s.state).toBe('running');
    vi.setSystemTime(200);
    a.current.crash();
    await settle(s);
    expect(s.state).toBe('stopped');
    expect(log.slice(-1)).toEqual(['stop:b']);
    expect(exits).toEqual([expect.objectContaining({ kind: 'crash', crashKind: 'max-intensity' })]);
  });

  it('restarts older than the period do not count; the window edge is inclusive', async () => {
    const log: string[] = [];
    const a = fake(log, 'a');
    const s = new Supervisor({ id: 'sub', intensity: 2, periodMs: 1000, backoff: false, onMaxIntensity: 'escalate', children: [a.spec] });
    await s.start();
    for (const t of [0, 100, 1200, 1300]) {
      vi.setSystemTime(t);
      a.current.crash();
      await settle(s);
    }
    // At 1300 the window [300, 1300] holds 1200 and 1300 only.
    expect(s.state).toBe('running');
    expect(a.starts).toBe(5);
    // 2300: window [1300, 2300] holds 1300 (edge, inclusive), 2300 -> with a third one it is over.
    vi.setSystemTime(2300);
    a.current.crash();
    await settle(s);
    expect(s.state).toBe('running');
    vi.setSystemTime(2300);
    a.current.crash();
    await settle(s);
    expect(s.state).toBe('stopped');
  });

  it('intensity 0: the first restart already gives up', async () => {
    const log: string[] = [];
    const a = fake(log, 'a');
    const s = new Supervisor({ id: 'sub', intensity: 0, periodMs: 1000, backoff: false, onMaxIntensity: 'escalate', children: [a.spec] });
    await s.start();
    a.current.crash();
    await settle(s);
    expect(s.state).toBe('stopped');
  });

  it('a restart of a whole one-for-all group counts once', async () => {
    const log: string[] = [];
    const kids = ['a', 'b', 'c'].map((id) => fake(log, id));
    const s = new Supervisor({ id: 'sub', strategy: 'one-for-all', intensity: 1, periodMs: 1000, backoff: false, onMaxIntensity: 'escalate', children: kids.map((k) => k.spec) });
    await s.start();
    kids[0]!.current.crash();
    await settle(s);
    expect(s.state).toBe('running');
    expect(kids.map((k) => k.starts)).toEqual([2, 2, 2]);
  });

  it('a child that fails to start during a restart counts as another restart (try_again)', async () => {
    const log: string[] = [];
    const a = fake(log, 'a');
    const s = new Supervisor({ id: 'sub', intensity: 3, periodMs: 1000, backoff: false, onMaxIntensity: 'escalate', children: [a.spec] });
    await s.start();
    a.failStarts = 2;
    a.current.crash();
    await settle(s);
    expect(log.filter((l) => l.startsWith('startfail'))).toHaveLength(2);
    expect(a.starts).toBe(2);
    expect(s.state).toBe('running');
    a.failStarts = 10;
    a.current.crash();
    await settle(s);
    expect(s.state).toBe('stopped');
  });
});

describe('escalation and the top of the tree', () => {
  beforeEach(() => {
    vi.useFakeTimers();
    vi.setSystemTime(0);
  });
  afterEach(() => vi.useRealTimers());

  it('a nested supervisor that exceeds its intensity escalates; the parent restarts it', async () => {
    const log: string[] = [];
    const c = fake(log, 'c');
    const other = fake(log, 'other');
    const root = await startTree({
      id: 'root',
      intensity: 5,
      periodMs: 60_000,
      backoff: false,
      children: [supervisorSpec({ id: 'sub', intensity: 1, periodMs: 1000, backoff: false, children: [c.spec] }), other.spec],
    });
    const events: LifecycleEvent[] = [];
    root.on((e) => events.push(e));
    c.current.crash();
    await settle(root);
    c.current.crash(); // second restart within 1 s: sub gives up
    await settle(root);
    await settle(root);
    expect(c.starts).toBe(3); // initial, sub's restart, fresh sub after root's restart
    expect(other.starts).toBe(1);
    expect(events).toContainEqual(expect.objectContaining({ id: 'sub', path: ['root', 'sub'], state: 'restarting', reason: expect.stringContaining('max restart intensity') }));
    expect(root.hub.restarts(['root', 'sub'])).toBe(1);
    // restart counts of the leaf survive the restart of its parent
    // The leaf's count covers both: restarted by sub, then started again with the fresh sub.
    expect(root.hub.restarts(['root', 'sub', 'c'])).toBe(2);
    expect(root.hub.state(['root', 'sub', 'c'])).toMatchObject({ state: 'running', restarts: 2 });
    expect(root.state).toBe('running');
  });

  it('the root goes to failed with the reason, retries on the slow schedule, and on retry()', async () => {
    const log: string[] = [];
    const a = fake(log, 'a', { version: '1.2.0' });
    const b = fake(log, 'b');
    const root = new Supervisor({ id: 'root', intensity: 1, periodMs: 10_000, backoff: false, failedRetryMs: 300_000, children: [a.spec, b.spec] });
    const events: LifecycleEvent[] = [];
    root.on((e) => events.push(e));
    await root.start();
    a.current.crash();
    await settle(root);
    a.current.crash('oom', 'memory-limit');
    await settle(root);
    expect(root.state).toBe('failed');
    expect(log.at(-1)).toBe('stop:b');
    const failedA = events.find((e) => e.id === 'a' && e.state === 'failed')!;
    expect(failedA).toMatchObject({ version: '1.2.0', restarts: 1, nextRetryAt: 300_000 });
    expect(failedA.reason).toContain('memory-limit: oom');
    expect(events.at(-1)).toMatchObject({ id: 'root', state: 'failed' });

    await vi.advanceTimersByTimeAsync(299_999);
    expect(a.starts).toBe(2);
    await vi.advanceTimersByTimeAsync(1);
    await settle(root);
    expect(root.state).toBe('running');
    expect(a.starts).toBe(3);
    expect(events.at(-1)).toMatchObject({ id: 'root', state: 'running' });

    // Fail again, then the operator retries by child name before the schedule.
    a.current.crash();
    await settle(root);
    a.current.crash();
    await settle(root);
    expect(root.state).toBe('failed');
    expect(await root.hub.retry('a')).toEqual(['root']);
    await settle(root);
    expect(root.state).toBe('running');
    expect(a.starts).toBe(5);
  });

  it('keepFailed on a per-component supervisor: it fails alone, its neighbour keeps running', async () => {
    const log: string[] = [];
    const bad = fake(log, 'bad');
    const good = fake(log, 'good');
    const root = await startTree({
      id: 'root',
      intensity: 1,
      periodMs: 1000,
      backoff: false,
      children: [
        supervisorSpec({ id: 'bad-sup', intensity: 2, periodMs: 60_000, backoff: false, onMaxIntensity: 'fail', failedRetryMs: 60_000, children: [bad.spec] }),
        supervisorSpec({ id: 'good-sup', children: [good.spec] }),
      ],
    });
    const events: LifecycleEvent[] = [];
    root.on((e) => events.push(e));
    for (let i = 0; i < 3; i++) {
      bad.current.crash();
      await settle(root);
    }
    expect(root.state).toBe('running');
    expect(good.starts).toBe(1);
    expect(root.hub.state(['root', 'bad-sup', 'bad'])).toMatchObject({ state: 'failed' });
    expect(root.hub.state(['root', 'bad-sup'])).toMatchObject({ state: 'failed' });
    expect(await root.hub.retry('bad')).toEqual(['root/bad-sup']);
    await settle(root);
    expect(bad.starts).toBe(4);
    expect(root.hub.state(['root', 'bad-sup', 'bad'])).toMatchObject({ state: 'running' });
  });

  it('a root whose child cannot start goes to failed (not a thrown start) and is retried', async () => {
    const log: string[] = [];
    const a = fake(log, 'a');
    const b = fake(log, 'b');
    b.failStarts = 1;
    const root = new Supervisor({ id: 'root', backoff: false, failedRetryMs: 1000, children: [a.spec, b.spec] });
    await root.start();
    expect(root.state).toBe('failed');
    expect(log).toEqual(['start:a', 'startfail:b', 'stop:a']);
    await vi.advanceTimersByTimeAsync(1000);
    await settle(root);
    expect(root.state).toBe('running');
  });

  it('a nested (escalating) supervisor whose child cannot start fails its own start', async () => {
    const log: string[] = [];
    const a = fake(log, 'a');
    a.failStarts = 1;
    const s = new Supervisor({ id: 'sub', onMaxIntensity: 'escalate', children: [a.spec] });
    await expect(s.start()).rejects.toThrow(/a failed to start/);
  });
});

describe('backoff', () => {
  beforeEach(() => {
    vi.useFakeTimers();
    vi.setSystemTime(0);
  });
  afterEach(() => vi.useRealTimers());

  it('grows exponentially per restart within the period, capped at maxMs, and waits before starting', async () => {
    const log: string[] = [];
    const a = fake(log, 'a');
    const s = new Supervisor({ id: 'root', intensity: 100, periodMs: 3_600_000, backoff: { baseMs: 100, maxMs: 1000, jitter: 0 }, children: [a.spec] });
    const delays: number[] = [];
    s.on((e) => e.state === 'restarting' && delays.push(e.delayMs!));
    await s.start();
    for (let i = 0; i < 6; i++) {
      a.current.crash();
      await settle(s);
      const before = a.starts;
      await vi.advanceTimersByTimeAsync(delays[i]! - 1);
      expect(a.starts).toBe(before);
      await vi.advanceTimersByTimeAsync(1);
      await settle(s);
      expect(a.starts).toBe(before + 1);
    }
    expect(delays).toEqual([100, 200, 400, 800, 1000, 1000]);
  });

  it('jitter keeps the delay within [d·(1−jitter), d]', () => {
    // The supervisor's n-th restart (n ≥ 1) waits attempt n−1 of the shared backoff.
    const b = { initialMs: 100, maxMs: 30_000, factor: 2, jitter: 0.3 };
    const backoffDelay = (shape: typeof b | { initialMs: number; maxMs: number }, n: number, r: () => number) => delayAt(shape, n - 1, r);
    for (let n = 1; n <= 12; n++) {
      const d = Math.min(30_000, 100 * 2 ** (n - 1));
      for (const r of [0, 0.25, 0.5, 0.999999]) {
        const v = backoffDelay(b, n, () => r);
        expect(v).toBeGreaterThanOrEqual(Math.floor(d * 0.7));
        expect(v).toBeLessThanOrEqual(d);
      }
    }
    expect(backoffDelay(b, 1, () => 0)).toBe(100);
    expect(backoffDelay(b, 1, () => 0.999999)).toBe(70);
    expect(backoffDelay({ initialMs: 0, maxMs: 10 }, 5, () => 0.5)).toBe(0);
  });

  it('uses the injected random source', async () => {
    const log: string[] = [];
    const a = fake(log, 'a');
    const s = new Supervisor({ id: 'root', intensity: 10, backoff: { baseMs: 1000, maxMs: 1000, jitter: 0.5 }, random: () => 1 - 1e-9, children: [a.spec] });
    const delays: number[] = [];
    s.on((e) => e.state === 'restarting' && delays.push(e.delayMs!));
    await s.start();
    a.current.crash();
    await settle(s);
    expect(delays).toEqual([500]);
  });

  it('stopping during a backoff cancels the pending restart', async () => {
    const log: string[] = [];
    const a = fake(log, 'a');
    const s = new Supervisor({ id: 'root', intensity: 10, backoff: { baseMs: 1000, maxMs: 1000, jitter: 0 }, children: [a.spec] });
    await s.start();
    a.current.crash();
    await settle(s);
    await s.stop();
    await vi.advanceTimersByTimeAsync(5000);
    expect(a.starts).toBe(1);
  });
});

describe('start order, stop order, shutdown timeouts', () => {
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(() => vi.useRealTimers());

  it('starts children in order and stops them in reverse, nested subtrees included', async () => {
    const log: string[] = [];
    const [a, b, c, d] = ['a', 'b', 'c', 'd'].map((id) => fake(log, id));
    const root = await startTree({ id: 'root', backoff: false, children: [a!.spec, supervisorSpec({ id: 'sub', children: [b!.spec, c!.spec] }), d!.spec] });
    expect(log).toEqual(['start:a', 'start:b', 'start:c', 'start:d']);
    log.length = 0;
    await root.stop();
    expect(log).toEqual(['stop:d', 'stop:c', 'stop:b', 'stop:a']);
    expect(root.state).toBe('stopped');
  });

  it('asks a child to stop, waits shutdownMs, then kills it', async () => {
    const log: string[] = [];
    const slow = fake(log, 'slow', { hangOnStop: true, shutdownMs: 500 });
    const a = fake(log, 'a');
    const root = await startTree({ id: 'root', backoff: false, children: [a.spec, slow.spec] });
    log.length = 0;
    const stopping = root.stop();
    await flush();
    expect(log).toEqual(['stop:slow']);
    await vi.advanceTimersByTimeAsync(499);
    expect(log).toEqual(['stop:slow']);
    await vi.advanceTimersByTimeAsync(1);
    await stopping;
    expect(log).toEqual(['stop:slow', 'kill:slow', 'stop:a']);
  });

  it('shutdownMs 0 kills at once (brutal_kill)', async () => {
    const log: string[] = [];
    const a = fake(log, 'a', { shutdownMs: 0 });
    const root = await startTree({ id: 'root', backoff: false, children: [a.spec] });
    await root.stop();
    expect(log).toEqual(['start:a', 'kill:a']);
  });

  it('siblings taken down by one-for-all are told why (restarting), and emit restarting', async () => {
    const log: string[] = [];
    const a = fake(log, 'a');
    const b = fake(log, 'b');
    const root = await startTree({ id: 'root', strategy: 'one-for-all', backoff: false, intensity: 5, children: [a.spec, b.spec] });
    const events: LifecycleEvent[] = [];
    root.on((e) => events.push(e));
    const first = b.current;
    a.current.crash();
    await settle(root);
    expect(first.stops[0]).toMatchObject({ as: 'restarting' });
    expect(events.map((e) => `${e.id}:${e.state}`)).toEqual(['a:restarting', 'b:restarting', 'a:starting', 'a:running', 'b:starting', 'b:running']);
    expect(events.every((e) => typeof e.ts === 'number')).toBe(true);
  });
});

describe('dynamic children', () => {
  it('startChild, terminateChild, restartChild, deleteChild', async () => {
    const log: string[] = [];
    const root = await startTree({ id: 'root', backoff: false, children: [] });
    const a = fake(log, 'a');
    await root.startChild(a.spec);
    await expect(root.startChild(a.spec)).rejects.toThrow(/already has a child a/);
    await root.terminateChild('a');
    expect(root.whichChildren()).toEqual([expect.objectContaining({ id: 'a', status: 'stopped' })]);
    await root.restartChild('a');
    expect(a.starts).toBe(2);
    await expect(root.deleteChild('a')).rejects.toThrow(/terminate it before deleting/);
    await root.terminateChild('a');
    await root.deleteChild('a');
    expect(root.whichChildren()).toEqual([]);
  });
});
