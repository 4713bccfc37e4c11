import { afterEach, describe, expect, it, vi } from 'vitest';
import { Actor, ActorCrash, ActorError, ActorRef, spawn, Supervisor, type ExitReason, type Message, type SupervisorOptions } from '../../runtime/supervision/index.js';
import { flush } from './helpers.js';

/** The root of a tree: nobody to escalate to, so it defaults to `failed` + slow retry. */
async function startTree(opts: SupervisorOptions): Promise<Supervisor> {
  const s = new Supervisor(opts);
  await s.start();
  return s;
}

const tick = () => new Promise<void>((r) => setImmediate(r));

describe('actor', () => {
  afterEach(() => vi.useRealTimers());

  it('delivers one message at a time, in order, to a sync handler', async () => {
    const seen: number[] = [];
    const a = spawn<number>({ id: 'a', mailbox: 1000, handler: (m) => void seen.push(m.payload) });
    for (let i = 0; i < 600; i++) a.send('event', 's', i);
    expect(seen).toEqual([]); // delivery is asynchronous
    for (let i = 0; i < 5; i++) await tick();
    expect(seen).toEqual([...Array(600).keys()]);
    expect(a.stats.events).toBe(600);
  });

  it('preserves per-sender order with interleaved senders', async () => {
    const got: Array<Message<number>> = [];
    const a = spawn<number>({ id: 'a', mailbox: 100, handler: (m) => void got.push(m) });
    for (let i = 0; i < 50; i++) {
      a.send('event', 'x', i);
      a.send('command', 'y', i);
    }
    await tick();
    for (const from of ['x', 'y']) expect(got.filter((m) => m.from === from).map((m) => m.payload)).toEqual([...Array(50).keys()]);
  });

  it('never runs an async handler concurrently with itself', async () => {
    let inFlight = 0;
    let maxInFlight = 0;
    const done: number[] = [];
    const a = spawn<number>({
      id: 'a',
      mailbox: 10,
      handler: async (m) => {
        inFlight++;
        maxInFlight = Math.max(maxInFlight, inFlight);
        await tick();
        inFlight--;
        done.push(m.payload);
      },
    });
    for (let i = 0; i < 5; i++) a.send('event', 's', i);
    for (let i = 0; i < 20; i++) await tick();
    expect(done).toEqual([0, 1, 2, 3, 4]);
    expect(maxInFlight).toBe(1);
  });

  it('ActorError is a handled failure: counted, the actor goes on', async () => {
    const seen: number[] = [];
    const errors: string[] = [];
    const a = spawn<number>({
      id: 'a',
      mailbox: 10,
      handler: (m) => {
        if (m.payload === 1) throw new ActorError('returned err');
        seen.push(m.payload);
      },
      onError: (e) => errors.push(e.message),
    });
    [0, 1, 2].forEach((i) => a.send('event', 's', i));
    await tick();
    expect(seen).toEqual([0, 2]);
    expect(a.stats).toMatchObject({ events: 3, errors: 1, crashes: 0, lastError: 'returned err' });
    expect(errors).toEqual(['returned err']);
  });

  it('ActorCrash stops the actor with its kind; later messages wait in the mailbox', async () => {
    const exits: ExitReason[] = [];
    const a = new Actor<number>({
      id: 'a',
      mailbox: 10,
      handler: (m) => {
        if (m.payload === 1) throw new ActorCrash('out-of-fuel', 'fuel exhausted');
      },
    });
    a.onExit((r) => exits.push(r));
    [0, 1, 2].forEach((i) => a.send('event', 's', i));
    await tick();
    expect(exits).toEqual([{ kind: 'crash', error: 'fuel exhausted', crashKind: 'out-of-fuel' }]);
    expect(a.stats.crashes).toBe(1);
    expect(a.mailbox.size).toBe(1);
    expect(a.send('command', 'mqtt', 3)).toMatchObject({ ok: false, reason: 'stopped' });
  });

  it('any other exception is a crash of kind "exception"', async () => {
    const exits: ExitReason[] = [];
    const a = spawn<number>({ id: 'a', mailbox: 10, handler: () => Promise.reject(new TypeError('bad')) });
    a.onExit((r) => exits.push(r));
    a.send('event', 's', 0);
    await tick();
    expect(exits).toEqual([{ kind: 'crash', error: 'bad', crashKind: 'exception' }]);
  });

  it('stop() waits for the message in hand; kill() does not', async () => {
    let release!: () => void;
    const a = spawn<number>({ id: 'a', mailbox: 10, handler: () => new Promise<void>((r) => (release = r)) });
    const exits: ExitReason[] = [];
    a.onExit((r) => exits.push(r));
    a.send('event', 's', 0);
    await tick();
    let stopped = false;
    void a.stop().then(() => (stopped = true));
    await tick();
    expect(stopped).toBe(false);
    release();
    await tick();
    expect(stopped).toBe(true);
    expect(exits).toEqual([{ kind: 'shutdown' }]);

    const b = spawn<number>({ id: 'b', mailbox: 10, handler: () => new Promise<void>(() => undefined) });
    b.send('event', 's', 0);
    await tick();
    b.kill();
    expect(b.alive).toBe(false);
  });

  it('ActorRef keeps its mailbox across a supervised restart and gives each incarnation a fresh handler', async () => {
    const seen: string[] = [];
    let incarnations = 0;
    const ref = new ActorRef<number>({
      id: 'thermo',
      capacity: 100,
      factory: () => {
        const n = ++incarnations;
        return (m) => {
          if (m.payload === 2) throw new ActorCrash('trap', 'unreachable');
          seen.push(`${n}:${m.payload}`);
        };
      },
    });
    const root = await startTree({ id: 'root', intensity: 5, backoff: false, children: [ref.spec()] });
    [1, 2, 3, 4].forEach((i) => ref.send('event', 's', i));
    for (let i = 0; i < 5; i++) {
      await tick();
      await root.idle();
    }
    expect(seen).toEqual(['1:1', '2:3', '2:4']);
    expect(ref.stats).toMatchObject({ events: 4, crashes: 1, lastCrash: { kind: 'trap', message: 'unreachable' } });
    expect(root.hub.state(['root', 'thermo'])).toMatchObject({ state: 'running', restarts: 1 });
  });

  it('ActorRef closes when its component fails: commands are refused with the reason, ticks counted', async () => {
    const ref = new ActorRef<number>({
      id: 'bad',
      capacity: 10,
      factory: () => () => {
        throw new ActorCrash('memory-limit', 'grow failed');
      },
    });
    const root = await startTree({ id: 'root', intensity: 1, backoff: false, children: [ref.spec()] });
    for (let i = 0; i < 4; i++) {
      ref.send('event', 's', i);
      await tick();
      await root.idle();
      await flush();
    }
    expect(root.state).toBe('failed');
    const r = ref.send('command', 'mqtt', 9);
    expect(r).toMatchObject({ ok: false, reason: 'failed' });
    if (!r.ok) expect(r.detail).toMatch(/component bad is failed .*memory-limit: grow failed.*retried/);
    ref.send('tick', 'sched', 1);
    expect(ref.stats.dropped.tick).toBe(1);
    expect(ref.stats.rejected).toBe(1);
    await root.hub.retry('bad');
    expect(ref.send('command', 'mqtt', 10).ok).toBe(true);
  });

  it('reportFuel and exit() through the context', async () => {
    const ref = new ActorRef<number>({
      id: 'w',
      capacity: 10,
      restart: 'transient',
      factory: (ctx) => (m) => {
        ctx.reportFuel(m.payload * 1000);
        if (m.payload === 2) ctx.exit();
      },
    });
    const root = await startTree({ id: 'root', backoff: false, children: [ref.spec()] });
    ref.send('event', 's', 1);
    ref.send('event', 's', 2);
    for (let i = 0; i < 3; i++) {
      await tick();
      await root.idle();
    }
    expect(ref.stats.lastFuel).toBe(2000);
    expect(root.whichChildren()).toEqual([expect.objectContaining({ id: 'w', status: 'stopped' })]);
  });
});
