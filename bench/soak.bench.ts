/**
 * Soak (issue "Hardening"): the default config (config/gateway.yaml: three example components on the
 * simulated board, embedded broker) as a real process, compiled JavaScript with the service unit's
 * Node flags (read from config/templates/airssys-gateway.service), for SOAK_MINUTES (default 30) with an OTA of the thermostat every SOAK_OTA_MINUTES
 * (default 5). RSS is read from /proc/PID/status every SOAK_SAMPLE_S seconds; the result is the RSS
 * slope after the warm-up (SOAK_WARMUP_MINUTES, default 5, capped at a third of the run).
 * Target: < 1 MB per 10 minutes. Results: docs/hardening.md.
 *
 * Each OTA signs a new version (1.0.N) of the thermostat with a key made for the run, and the bytes
 * differ every time (a custom section carries N), so every release is a cold build in the build
 * worker, the path that would leak if anything did. `airssys push` waits for `committed`.
 *
 * Run: `npm run bench -- soak`; smoke: `SOAK_MINUTES=2 SOAK_OTA_MINUTES=1 npm run bench -- soak`.
 * SOAK_FROM_SOURCE=1 runs the TypeScript sources through tsx instead of compiling.
 * After each committed push the release's retained chunks are cleared (`airssys artifacts rm`, the
 * operator's step after a rollout, docs/ota.md): the embedded broker keeps them in the gateway
 * process. SOAK_KEEP_ARTIFACTS=1 leaves them (each OTA then adds the release's size).
 */
import { spawn, spawnSync } from 'node:child_process';
import { createHash, generateKeyPairSync } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import mqtt from 'mqtt';
import { parse, stringify } from 'yaml';
import { defaultConfig } from './default-config.js';
import { encodeU32 } from '../runtime/instrument/binary.js';
import { freePort } from '../test/helpers/mosquitto.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const num = (name: string, dflt: number) => {
  const v = process.env[name];
  if (v === undefined || v === '') return dflt;
  const n = Number(v);
  if (!(n > 0)) throw new Error(`${name}=${v}: expected a positive number`);
  return n;
};


async function rssKb(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  return Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0);
}

/** A custom section (id 0) appended at the component level: valid anywhere, changes the sha256. */
function withCustomSection(bytes: Uint8Array, name: string, payload: string): Uint8Array {
  const nameBytes = Buffer.from(name);
  const body = Buffer.concat([encodeU32(nameBytes.length), nameBytes, Buffer.from(payload)]);
  return Buffer.concat([Buffer.from(bytes), Buffer.from([0]), encodeU32(body.length), body]);
}

/** The Node flags of the unit's `ExecStart=@NODE@ <flags> @PREFIX@/bin/airssys.mjs …`. */
function serviceNodeFlags(unit: string): string[] {
  const line = /^ExecStart=@NODE@ (.*)$/m.exec(unit)?.[1];
  if (!line) throw new Error('config/templates/airssys-gateway.service: no ExecStart=@NODE@ line');
  const words = line.split(/\s+/);
  return words.slice(0, words.findIndex((w) => !w.startsWith('--')));
}

/** Least-squares slope of y over x. */
function slope(points: Array<[number, number]>): number {
  const n = points.length;
  if (n < 2) return NaN;
  const mx = points.reduce((a, p) => a + p[0], 0) / n;
  const my = points.reduce((a, p) => a + p[1], 0) / n;
  let num = 0;
  let den = 0;
  for (const [x, y] of points) {
    num += (x - mx) * (y - my);
    den += (x - mx) ** 2;
  }
  return num / den;
}

const sha256Hex = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex');

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? s[Math.floor(s.length / 2)]! : NaN;
};

export async function run(): Promise<void> {
  const minutes = num('SOAK_MINUTES', 30);
  const otaEveryMin = num('SOAK_OTA_MINUTES', 5);
  const sampleS = num('SOAK_SAMPLE_S', 10);
  const warmupMin = Math.min(num('SOAK_WARMUP_MINUTES', 5), minutes / 3);
  const fromSource = process.env.SOAK_FROM_SOURCE === '1';
  const clearArtifacts = process.env.SOAK_KEEP_ARTIFACTS !== '1';

  const built = spawnSync(process.execPath, [join(root, 'scripts', 'build-examples.mjs')], { stdio: 'inherit' });
  if (built.status !== 0) throw new Error('could not build the examples');

  let main = join(root, 'bin', 'airssys.mjs');
  if (!fromSource) {
    // Compiled as `npm run build` makes it, but into .tmp/ so the checkout's bin/ keeps running sources.
    const out = join(root, '.tmp', 'soak-dist');
    const tsc = spawnSync('npx', ['tsc', '-p', 'tsconfig.json', '--outDir', out], { cwd: root, stdio: 'inherit' });
    if (tsc.status !== 0) throw new Error('tsc failed');
    spawnSync(process.execPath, [join(root, 'scripts', 'copy-assets.mjs'), out], { stdio: 'inherit' });
    main = join(out, 'gateway', 'cli', 'main.js');
  }

  const dir = await mkdtemp(join(tmpdir(), 'airssys-soak-'));
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  const keyFile = join(dir, 'ota.key');
  const pubFile = join(dir, 'ota.pub');
  await writeFile(keyFile, privateKey.export({ type: 'pkcs8', format: 'pem' }));
  await writeFile(pubFile, publicKey.export({ type: 'spki', format: 'pem' }));

  // The default config, with only what a soak needs changed: its own data dir and port, quiet logs,
  // and the run's key trusted for OTA.
  const port = await freePort();
  const config = await defaultConfig(root);
  config.gateway['data-dir'] = join(dir, 'var');
  config.mqtt['embedded-port'] = port;
  config.log = { level: 'warn' };
  config.ota['trusted-keys'] = [pubFile];
  const configFile = join(dir, 'gateway.yaml');
  await writeFile(configFile, stringify(config));
  const gatewayId = config.gateway.id as string;
  const broker = `mqtt://127.0.0.1:${port}`;

  const thermoYaml = parse(await readFile(join(root, 'examples', 'thermostat', 'thermostat.yaml'), 'utf8')) as Record<string, any>;
  const thermoWasm = await readFile(join(root, 'var', 'build', 'thermostat.wasm'));

  // The service unit's Node flags, read from its template (config/templates/airssys-gateway.service).
  const unitFlags = serviceNodeFlags(await readFile(join(root, 'config', 'templates', 'airssys-gateway.service'), 'utf8'));
  const nodeArgs = [...unitFlags, main];
  const env = { ...process.env, ...(fromSource ? { AIRSSYS_FROM_SOURCE: '1' } : {}) };
  /** One `airssys` CLI run to its end: exit code and stderr. */
  const cli = (args: string[]) =>
    new Promise<{ code: number | null; err: string }>((resolve) => {
      const p = spawn(process.execPath, [main, ...args], { cwd: root, env, stdio: ['ignore', 'ignore', 'pipe'] });
      let err = '';
      p.stderr.on('data', (d) => (err += d));
      p.on('exit', (code) => resolve({ code, err }));
    });
  const child = spawn(process.execPath, [...nodeArgs, 'start', '--config', configFile], { cwd: root, env, stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d) => (stderr = (stderr + d).slice(-20_000)));
  const t0 = Date.now();
  while (!/running/.test(stderr)) {
    if (child.exitCode !== null) throw new Error(`gateway exited at start: ${stderr}`);
    if (Date.now() - t0 > 120_000) throw new Error(`gateway did not start in 2 min: ${stderr}`);
    await new Promise((r) => setTimeout(r, 200));
  }
  const started = Date.now();

  // Telemetry keeps flowing through the whole run (a soak that measures a stalled gateway is no soak).
  const sub = await mqtt.connectAsync(broker, { protocolVersion: 4 });
  let telemetry = 0;
  // The gateway's own account of its memory (health `memory`: full collections after OTAs).
  let memory: Record<string, any> | undefined;
  const healthTopic = `airssys/gw/${gatewayId}/health`;
  sub.on('message', (topic, payload) => {
    if (topic !== healthTopic) return void telemetry++;
    try {
      memory = (JSON.parse(payload.toString()) as { memory?: Record<string, any> }).memory ?? memory;
    } catch {
      // a half-written health payload is not the soak's concern
    }
  });
  await sub.subscribeAsync([`airssys/gw/${gatewayId}/telemetry/#`, healthTopic], { qos: 0 });

  const samples: Array<{ min: number; mb: number }> = [];
  const otas: Array<{ atMin: number; version: string; ok: boolean; seconds: number; line: string }> = [];
  let nextOta = started + otaEveryMin * 60_000;
  let n = 0;
  const end = started + minutes * 60_000;
  while (Date.now() < end) {
    if (child.exitCode !== null) throw new Error(`gateway exited during the soak (code ${child.exitCode}): ${stderr.slice(-2000)}`);
    samples.push({ min: (Date.now() - started) / 60_000, mb: (await rssKb(child.pid!)) / 1024 });
    if (Date.now() >= nextOta && Date.now() + 60_000 < end) {
      nextOta += otaEveryMin * 60_000;
      n++;
      const version = `1.0.${n}`;
      const wasm = join(dir, `thermostat-${n}.wasm`);
      const manifest = join(dir, `thermostat-${n}.yaml`);
      const bytes = withCustomSection(thermoWasm, 'airssys-soak', String(n));
      await writeFile(wasm, bytes);
      await writeFile(manifest, stringify({ ...thermoYaml, version }));
      const t = Date.now();
      const push = await cli(['push', wasm, '--manifest', manifest, '--key', keyFile, '--broker', broker, '--gateway', gatewayId, '--timeout', '180']);
      const seconds = Number(((Date.now() - t) / 1000).toFixed(1));
      // The rollout is done: clear the release's retained chunks as docs/ota.md tells the operator
      // to. With the embedded broker they are held in the gateway process (the release's size per
      // OTA, in the broker's retained store) and would otherwise show up as growth here.
      const rm = clearArtifacts ? await cli(['artifacts', 'rm', sha256Hex(bytes), '--broker', broker]) : { code: 0, err: '' };
      const lines = push.err.trim().split('\n');
      otas.push({ atMin: Number(((t - started) / 60_000).toFixed(1)), version, ok: push.code === 0 && rm.code === 0, seconds, line: lines.at(-1) ?? '' });
    }
    await new Promise((r) => setTimeout(r, sampleS * 1000));
  }
  const telemetryPerMin = telemetry / ((Date.now() - started) / 60_000);
  await sub.endAsync();
  child.kill('SIGTERM');
  const exitCode = await new Promise<number | null>((r) => child.once('exit', (c) => r(c)));

  const after = samples.filter((s) => s.min >= warmupMin);
  const perTenMin = slope(after.map((s) => [s.min, s.mb])) * 10;
  const q = Math.max(1, Math.floor(after.length / 4));
  const firstQ = median(after.slice(0, q).map((s) => s.mb));
  const lastQ = median(after.slice(-q).map((s) => s.mb));
  const spanMin = after.length ? after.at(-1)!.min - after[0]!.min : 0;
  // The build worker (jco) that compiles each release lives a minute past its last build, so RSS
  // saw-tooths with every OTA; the sample just before each OTA (worker long gone) is the floor that
  // a leak would raise.
  const floors = otas.map((o) => [...samples].reverse().find((s) => s.min < o.atMin)).filter((s): s is { min: number; mb: number } => s !== undefined && s.min >= warmupMin);
  floors.push(samples.at(-1)!);
  const floorPerTenMin = slope(floors.map((s) => [s.min, s.mb])) * 10;
  const f = (x: number) => x.toFixed(2);

  console.log(`soak: ${minutes} min of config/gateway.yaml (${fromSource ? 'sources via tsx' : 'compiled'}, ${unitFlags.join(' ')}), an OTA every ${otaEveryMin} min${clearArtifacts ? ' (chunks cleared after each)' : ' (chunks left retained)'}, RSS every ${sampleS} s; target slope < 1 MB / 10 min after ${warmupMin} min warm-up`);
  console.table(otas);
  console.table([
    {
      'RSS start (MB)': f(samples[0]?.mb ?? NaN),
      'RSS peak (MB)': f(Math.max(...samples.map((s) => s.mb))),
      'RSS end (MB)': f(samples.at(-1)?.mb ?? NaN),
      'slope after warm-up (MB / 10 min, least squares)': f(perTenMin),
      'slope of the pre-OTA floors (MB / 10 min)': `${f(floorPerTenMin)} (${floors.map((s) => f(s.mb)).join(', ')})`,
      'median last quarter − first quarter (MB)': `${f(lastQ - firstQ)} over ${f(spanMin * 0.75)} min`,
      'OTAs committed': `${otas.filter((o) => o.ok).length}/${otas.length}`,
      'telemetry msgs / min': Math.round(telemetryPerMin),
      'exit code on SIGTERM': exitCode,
      'collections after OTAs (health)': memory ? `${memory.collections}${memory.lastCollection ? `; last: ${memory.lastCollection.reason}, RSS ${f(memory.lastCollection.rssBefore / 1048576)} → ${f(memory.lastCollection.rssAfter / 1048576)} MB in ${memory.lastCollection.ms} ms` : ''}` : 'not in health',
    },
  ]);
  // Every sample, for plotting (minute, MB).
  const out = join(root, '.tmp', `soak-${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
  await mkdir(dirname(out), { recursive: true });
  await writeFile(out, JSON.stringify({ minutes, otaEveryMin, warmupMin, nodeFlags: unitFlags, perTenMin, floorPerTenMin, otas, memory, samples }, null, 1));
  console.log(`samples: ${out}`);
  await rm(dir, { recursive: true, force: true });
  if (otas.some((o) => !o.ok) || exitCode !== 0) process.exitCode = 1;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) await run();
