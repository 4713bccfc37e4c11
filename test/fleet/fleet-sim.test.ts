import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { existsSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parse, stringify } from 'yaml';
import { Mosquitto } from '../helpers/mosquitto.js';
import { cliProcess } from '../helpers/cli.js';
import { Recorder } from '../helpers/subscriber.js';
import { waitFor } from '../helpers/wait.js';
import { fleetFixture, FleetSim, TEMPLATE_ID, type FleetFixture } from './helpers.js';

/** `airssys fleet-sim` as a real process on a real Mosquitto. */
let broker: Mosquitto;
let fx: FleetFixture;

beforeAll(async () => {
  broker = await new Mosquitto().start();
  fx = await fleetFixture({ url: broker.url, probationMs: 1000 });
}, 60_000);
afterAll(async () => broker?.dispose());

describe('fleet-sim', () => {
  it('runs N gateways with derived ids and data dirs, prints `ready N`, and stops on SIGTERM', async () => {
    const states = await new Recorder(broker.url, 'airssys/gw/+/state').start();
    const sim = await FleetSim.start(fx.template, 3);
    expect(sim.stdout).toBe('ready 3\n');
    const ids = ['1', '2', '3'].map((i) => `${TEMPLATE_ID}-${i}`);
    for (const id of ids) expect(existsSync(join(fx.dir, 'var', id, 'telemetry.db')), id).toBe(true);
    const latest = () => {
      const out: Record<string, Record<string, unknown>> = {};
      for (const m of states.messages) out[m.topic.split('/')[2]!] = JSON.parse(m.payload) as Record<string, unknown>;
      return out;
    };
    await waitFor(() => Object.keys(latest()).length === 3, 'three gateway states');
    for (const id of ids) expect(latest()[id]).toMatchObject({ state: 'online', groups: ['lab'] });
    expect(await sim.stop()).toBe(0);
    await waitFor(() => ids.every((id) => latest()[id]?.state === 'offline'), 'every gateway offline after SIGTERM');
    await states.stop();
  }, 120_000);

  it('refuses a template that would bind a port per gateway, with one line', async () => {
    const raw = parse(await readFile(fx.template, 'utf8')) as Record<string, unknown>;
    const variants: [string, Record<string, unknown>][] = [
      ['metrics', { ...raw, metrics: { listen: '127.0.0.1:9464' } }],
      ['ui', { ...raw, ui: { listen: '127.0.0.1:8080' } }],
      ['mqtt.url: embedded', { ...raw, mqtt: { url: 'embedded' } }],
    ];
    for (const [what, body] of variants) {
      const file = join(fx.dir, `bad-${what.replace(/\W/g, '')}.yaml`);
      await writeFile(file, stringify(body));
      const r = await cliProcess(['fleet-sim', '--config', file, '--gateways', '2']);
      expect(r.code, what).not.toBe(0);
      expect(r.stdout, what).toBe('');
      expect(r.stderr.trim().split('\n'), what).toHaveLength(1);
      expect(r.stderr, what).toContain(`sets ${what}`);
    }
  }, 60_000);
});
