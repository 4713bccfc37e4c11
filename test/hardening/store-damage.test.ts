import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mqtt, { type MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sha256Hex } from '../../gateway/ota/envelope.js';
import { readPrivateKeyFile } from '../../gateway/ota/keys.js';
import { buildRelease } from '../../gateway/ota/release.js';
import { OtaStore } from '../../gateway/ota/store.js';
import { Mosquitto } from '../helpers/mosquitto.js';
import { buildMeter, COMPONENT, GatewayWatch, meterManifest, publishRaw, until, writeKeys, writeRelease } from '../ota-e2e/helpers.js';
import { killAll, launch, setupGateway, signal, stackLines, warmCache } from './helpers.js';

/**
 * A damaged OTA record on disk, with the real gateway process: the gateway starts anyway, runs the
 * config's version of that component (or leaves an OTA-only one stopped) and says which file is
 * damaged in one error line; stored bytes that do not match the sha256 recorded at commit are not
 * run; the anti-downgrade floor survives the damage.
 */
let dir: string;
let broker: Mosquitto;
let operator: MqttClient;
let keys: { key: string; pub: string };
let v100: { wasm: string; yaml: string };
let b110: Uint8Array;
let b120: Uint8Array;
let cache: string;
let env110: { envelope: string; sha256: string; payload: Buffer };

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'airssys-damage-'));
  broker = await new Mosquitto().start();
  operator = await mqtt.connectAsync(broker.url);
  keys = await writeKeys(dir, 'ota');
  const b100 = await buildMeter({ marker: 1 });
  b110 = await buildMeter({ marker: 2 });
  b120 = await buildMeter({ marker: 3 });
  v100 = await writeRelease(dir, 'v100', b100, meterManifest('1.0.0'));
  cache = await warmCache(dir, [b100, b110, b120]);
  const env = buildRelease({ bytes: b110, manifest: meterManifest('1.1.0'), keys: [readPrivateKeyFile(keys.key)], chunkSize: 1024 });
  const envelope = JSON.stringify(env);
  env110 = { envelope, sha256: env.manifest.sha256, payload: Buffer.from(envelope) };
}, 120_000);

afterAll(async () => {
  killAll();
  await operator?.endAsync();
  await broker?.dispose();
});

/** A data dir whose OTA store has meter 1.1.0 committed, written by the store itself. */
async function withCommitted110(name: string, inConfig: boolean) {
  const run = await setupGateway(dir, name, { url: broker.url, pub: keys.pub, cache, components: inConfig ? [{ source: v100.wasm, manifest: v100.yaml }] : [] });
  const store = await OtaStore.open(run.dataDir);
  const env = JSON.parse(env110.envelope) as { manifest: Parameters<OtaStore['stage']>[0] };
  await store.stage(env.manifest, b110, env110.payload);
  await store.activate(COMPONENT, { version: '1.1.0', sha256: env110.sha256, envelopeSha256: sha256Hex(env110.payload) });
  await store.startProbation(COMPONENT);
  await store.commit(COMPONENT);
  const vdir = store.versionDir(COMPONENT, '1.1.0');
  return { ...run, stateFile: join(store.componentDir(COMPONENT), 'state.json'), manifestFile: join(vdir, 'manifest.json'), wasmFile: join(vdir, 'component.wasm') };
}

/** `n` samples in a row from `marker` (1: the config's 1.0.0). */
const settlesOn = (watch: GatewayWatch, marker: number, n = 10) =>
  until(() => {
    const tail = watch.samples.slice(-n);
    return tail.length === n && tail.every((s) => s.value === marker);
  }, 30_000, `${n} samples in a row from marker ${marker}; last: ${JSON.stringify(watch.samples.slice(-3))}`);

const linesNaming = (out: string, file: string) => out.split('\n').filter((l) => l.includes(file));

describe('a damaged OTA record does not stop the gateway', () => {
  const cases = [
    { what: 'truncated state.json', file: 'stateFile', damage: async (f: string) => writeFile(f, (await readFile(f, 'utf8')).slice(0, 25)) },
    { what: 'garbage manifest.json', file: 'manifestFile', damage: async (f: string) => writeFile(f, Buffer.from([0x7b, 0x00, 0xff, 0x13])) },
    { what: 'component.wasm replaced by other (valid) bytes', file: 'wasmFile', damage: async (f: string) => writeFile(f, b120) },
  ] as const;

  for (const c of cases) {
    it(`${c.what}: the config's version runs, one error line names the file, no downgrade is let through`, async () => {
      const run = await withCommitted110(c.file, true);
      const file = run[c.file];
      await c.damage(file);
      const watch = await GatewayWatch.start(broker.url, run.prefix);
      try {
        const g = launch(run.config);
        await g.running();
        await settlesOn(watch, 1);
        expect(watch.samples.some((s) => s.value === 2 || s.value === 3), 'the damaged 1.1.0 (or the foreign bytes) never ran').toBe(false);
        await until(() => watch.states.at(-1)?.version === '1.0.0' && watch.states.at(-1)?.state === 'running', 10_000, 'retained state 1.0.0 running');
        const named = linesNaming(g.output(), file);
        expect(named).toHaveLength(1);
        expect(JSON.parse(named[0]!)).toMatchObject({ level: 50, component: COMPONENT, file });
        expect(named[0]).toContain("running the config's 1.0.0 instead");
        expect(stackLines(g.output())).toEqual([]);

        // The floor (1.1.0 committed) survived: another signed release of 1.1.0 is not taken.
        const since = watch.statuses.length;
        const again = JSON.stringify(buildRelease({ bytes: b110, manifest: meterManifest('1.1.0', { 'tick-ms': 25 }), keys: [readPrivateKeyFile(keys.key)], chunkSize: 1024 }));
        const envSha = await publishRaw(operator, { envelope: again, bytes: b110, sha256: env110.sha256, chunkSize: 1024, prefix: run.prefix });
        const final = await watch.final(envSha, since);
        expect(final).toMatchObject({ phase: 'rejected', reason: 'downgrade' });
        await settlesOn(watch, 1);
        await signal(g.child, 'SIGTERM');
        expect(await g.exited).toBe(0);
      } finally {
        await watch.stop();
      }
    }, 180_000);
  }

  it('an OTA-only component with a truncated state.json is left stopped with an error naming the file; the gateway runs', async () => {
    const run = await withCommitted110('ota-only', false);
    await writeFile(run.stateFile, '{"current":{"vers');
    const watch = await GatewayWatch.start(broker.url, run.prefix);
    try {
      const g = launch(run.config);
      await g.running();
      const named = linesNaming(g.output(), run.stateFile);
      expect(named).toHaveLength(1);
      expect(named[0]).toContain('left stopped');
      expect(g.output()).toContain('running (0 components)');
      // Stays up: the health topic keeps coming, no telemetry from the stopped component.
      await new Promise((r) => setTimeout(r, 1500));
      expect(g.child.exitCode).toBeNull();
      expect(watch.samples).toEqual([]);
      await signal(g.child, 'SIGTERM');
      expect(await g.exited).toBe(0);
    } finally {
      await watch.stop();
    }
  }, 120_000);
});
