import { describe, expect, it } from 'vitest';
import { Supervisor, supervisor, type LifecycleEvent } from '../../runtime/supervision/index.js';
import { fake, flush } from './helpers.js';

describe('builder', () => {
  it('builds the same tree as raw specs: order, nesting, strategies, inherited options', async () => {
    const log: string[] = [];
    const thermo = fake(log, 'thermo', { version: '1.0.0' });
    const uart = fake(log, 'uart');
    const parser = fake(log, 'parser');
    const logger = fake(log, 'logger', { restart: 'temporary' });
    const rnd = () => 0;
    const built = supervisor('root')
      .strategy('one-for-one')
      .intensity(5, 60_000)
      .backoff(false)
      .random(rnd)
      .child('thermo', thermo.spec.start, { version: '1.0.0' })
      .supervisor('io', (s) => s.strategy('rest-for-one').intensity(2, 5_000).child(uart.spec).child(parser.spec))
      .child('logger', logger.spec.start, { restart: 'temporary', shutdownMs: 0 })
      .build();

    expect(built.options).toMatchObject({ id: 'root', strategy: 'one-for-one', intensity: 5, periodMs: 60_000, backoff: false, random: rnd });
    expect(built.options.children!.map((c) => [c.id, c.restart, c.shutdownMs])).toEqual([
      ['thermo', 'permanent', 5000],
      ['io', 'permanent', Infinity],
      ['logger', 'temporary', 0],
    ]);
    const root = await built.start();
    expect(root).toBeInstanceOf(Supervisor);
    expect(log).toEqual(['start:thermo', 'start:uart', 'start:parser', 'start:logger']);
    const events: LifecycleEvent[] = [];
    root.on((e) => events.push(e));

    // rest-for-one inside io; the backoff(false) was inherited (restart is immediate).
    log.length = 0;
    uart.current.crash();
    await flush();
    await root.idle();
    await flush(50);
    expect(log).toEqual(['stop:parser', 'start:uart', 'start:parser']);
    expect(events.filter((e) => e.state === 'running').map((e) => e.path.join('/'))).toEqual(['root/io/uart', 'root/io/parser']);

    await root.stop();
    expect(log.slice(3)).toEqual(['kill:logger', 'stop:parser', 'stop:uart', 'stop:thermo']);
    expect(events.find((e) => e.id === 'thermo' && e.state === 'stopped')).toMatchObject({ version: '1.0.0' });
  });

  it('keepFailed and as() set the failure mode and the nested restart type', () => {
    const b = supervisor('x').supervisor('comp', (s) => s.keepFailed(1000).as({ restart: 'transient', version: '2.0.0' })).build();
    const spec = b.options.children![0]!;
    expect(spec).toMatchObject({ id: 'comp', restart: 'transient', version: '2.0.0' });
  });
});
