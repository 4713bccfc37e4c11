import { test } from 'vitest';
import { Mosquitto } from '../helpers/mosquitto.js';
import { fleetFixture, FleetSim } from '../fleet/helpers.js';
import { Recorder } from '../helpers/subscriber.js';
test('smoke', async () => {
  const m = await new Mosquitto().start();
  const fx = await fleetFixture({ url: m.url, probationMs: 1000 });
  const rec = await new Recorder(m.url, 'airssys/gw/+/state').start();
  const t0 = Date.now();
  const sim = await FleetSim.start(fx.template, 20);
  console.log('ready in', Date.now() - t0, sim.stderr.slice(0, 2000));
  await new Promise((r) => setTimeout(r, 500));
  console.log(rec.messages.slice(0, 3));
  console.log('stop code', await sim.stop(), sim.stderr.slice(-1000));
  await rec.stop(); await m.dispose();
}, 120000);
