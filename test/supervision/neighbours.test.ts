import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { ActorCrash, ActorRef, supervisor } from '../../runtime/supervision/index.js';

/**
 * A component that crashes on every event must not disturb its neighbours: they keep receiving
 * their ticks on schedule, and the crashing one ends `failed` (not abandoned), retried later.
 */
describe('a crash-looping component next to a healthy one', () => {
  beforeEach(() => {
    vi.useFakeTimers();
    vi.setSystemTime(0);
  });
  afterEach(() => vi.useRealTimers());

  it('the neighbour keeps its tick schedule while the bad one crash-loops, fails and is retried', async () => {
    const ticks: number[] = [];
    const good = new ActorRef<number>({ id: 'good', capacity: 10, factory: () => (m) => void ticks.push(m.payload) });
    let badCalls = 0;
    const bad = new ActorRef<number>({
      id: 'bad',
      capacity: 10,
      factory: () => () => {
        badCalls++;
        throw new ActorCrash('trap', 'unreachable executed');
      },
    });
    const root = await supervisor('root')
      .strategy('one-for-one')
      .intensity(3, 60_000)
      .backoff({ baseMs: 50, maxMs: 1_000, jitter: 0 })
      .supervisor('bad', (s) => s.intensity(5, 10_000).keepFailed(60_000).actor(bad))
      .supervisor('good', (s) => s.actor(good))
      .start();

    // Scheduler: every 100 ms a tick to both, and a burst of events to the bad one.
    let n = 0;
    const timer = setInterval(() => {
      n++;
      good.send('tick', 'scheduler', n);
      bad.send('tick', 'scheduler', n);
      for (let i = 0; i < 5; i++) bad.send('event', 'gpio', i);
    }, 100);

    await vi.advanceTimersByTimeAsync(5_000);
    expect(ticks).toEqual([...Array(50).keys()].map((i) => i + 1));
    expect(root.state).toBe('running');
    expect(root.hub.state(['root', 'bad', 'bad'])).toMatchObject({ state: 'failed', reason: expect.stringContaining('trap: unreachable executed') });
    expect(root.hub.state(['root', 'good', 'good'])).toMatchObject({ state: 'running', restarts: 0 });
    expect(bad.stats.crashes).toBe(6);
    const callsWhenFailed = badCalls;

    // While failed, nothing reaches it (ticks are dropped and counted), the neighbour goes on.
    await vi.advanceTimersByTimeAsync(5_000);
    expect(ticks).toHaveLength(100);
    expect(badCalls).toBe(callsWhenFailed);
    expect(bad.stats.dropped.tick).toBeGreaterThanOrEqual(50);

    // The slow schedule retries it (60 s after it failed).
    await vi.advanceTimersByTimeAsync(60_000);
    expect(badCalls).toBeGreaterThan(callsWhenFailed);
    expect(ticks).toHaveLength(700);
    clearInterval(timer);
    await root.stop();
  });
});
