import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';
import { readFile } from 'node:fs/promises';
import { parse as parseYaml } from 'yaml';
import { createSimBoard } from '../../../drivers/sim-board.js';
import { parseScenario, type Scenario } from '../../../drivers/sim-scenario.js';
import { VirtualTimers } from '../../../drivers/gpio/virtual-timers.js';
import { FileStore, MemoryStore, type BucketStore } from '../../../drivers/storage/store.js';
import { wireComponent, type WiredComponent } from '../../../drivers/component-wiring.js';
import type { TelemetrySample } from '../../../drivers/pipeline/host-calls.js';
import { Engine } from '../../../runtime/engine.js';
import { GatewayError } from '../../../runtime/errors.js';
import type { CallOutcome } from '../../../runtime/instance.js';
import type { ComponentHost } from '../../../runtime/component/component-host.js';
import type { ComponentEvent } from '../../../runtime/component/events.js';
import { loadManifestFile, readComponentFile } from '../../component/manifest-file.js';
import { flagInt, flagString } from '../args.js';
import type { Verb } from '../io.js';
import { parseVerbArgs, usageError, usageLine, type VerbSpec } from '../spec.js';

export const spec: VerbSpec = {
  name: 'run',
  summary: 'run one component on a simulated board, one JSON line per event',
  usage: 'run FILE.wasm --manifest M.yaml [--ticks N] [options]',
  about: 'Prints one JSON object per line for every telemetry sample, log line, GPIO output and error, then {"summary":{…}}. Time is virtual (each tick advances now-ms by tick-ms) unless --realtime; crashes restart the component per its manifest.',
  flags: [
    { name: 'manifest', short: 'm', arg: 'M.yaml', about: 'the component\'s manifest (capabilities, limits, tick-ms)' },
    { name: 'ticks', short: 'n', arg: 'N', about: 'how many ticks to run (default 10, 0 when the manifest has no tick-ms)' },
    { name: 'board', arg: 'sim', about: 'the board to simulate; only sim' },
    { name: 'gpio', arg: 'PIN=0|1[@TICK]', repeatable: true, about: 'drive an input pin before tick TICK (default 0)' },
    { name: 'serial', arg: 'PORT=TEXT[@TICK]', repeatable: true, about: 'feed bytes to a serial port before tick TICK (\\n, \\r escapes)' },
    { name: 'data-dir', arg: 'DIR', about: 'where the compiled-component cache lives (default ~/.cache/airssys); when given, also where the storage bucket is kept (DIR/storage/NAME.json), else it is in memory' },
    { name: 'realtime', about: 'sleep tick-ms between ticks' },
    { name: 'scenario', arg: 'FILE.yaml', about: 'simulated I2C/SPI devices (i2c: [{ bus, address, device: bme280, … }], spi: [{ bus, chip-select, device: mcp3008, channels }]), as under board.options.scenario' },
  ],
  examples: ["airssys run thermo.wasm --manifest thermo.yaml --ticks 5 --gpio 17=1@2 --serial /dev/ttyUSB0='T=21.5\\n'"],
  exits: '0 all ticks ran, 1 the component failed past its restart intensity, 2 the component cannot be loaded or invalid arguments',
};
const USAGE = usageLine(spec);

/**
 * `airssys run`: one component on a simulated board, as an operator tries it before shipping.
 * Time is virtual (each tick advances now-ms by tick-ms, no sleeping) unless --realtime. Scripted
 * inputs: `--gpio 17=1@3` drives input 17 high before tick 3; `--serial /dev/ttyUSB0='T=21.5\n'`
 * feeds bytes to a port before tick 0 (or @TICK). Crashes restart the component per its manifest's
 * restart policy and intensity, counted in the summary.
 */
export const run: Verb = async (argv, io) => {
  const args = parseVerbArgs(argv, spec);
  const [file] = args.positionals;
  const manifestPath = flagString(args, 'manifest');
  if (!file || args.positionals.length > 1) throw usageError(spec, 'give exactly one FILE.wasm');
  if (!manifestPath) throw usageError(spec, 'missing --manifest M.yaml');
  const board = flagString(args, 'board') ?? 'sim';
  if (board !== 'sim') throw new GatewayError('USAGE', `airssys run supports only --board sim, got ${JSON.stringify(board)}; run on a Pi with \`airssys start\``);
  const script = parseScript(args.flags.gpio, args.flags.serial);

  // Everything up to a running instance is "cannot be loaded": exit 2.
  let manifest, host: ComponentHost, sim: ReturnType<typeof createSimBoard>, wired: WiredComponent | undefined;
  const printErr = (kind: string, event: string, message: string) => io.out(JSON.stringify({ error: { kind, event, message } }));
  let errors = 0;
  let virtualNow = Date.now();
  // Device callbacks queue events here; the run loop delivers them in order between ticks.
  const pending: ComponentEvent[] = [];
  let store: BucketStore | undefined;
  const timers = new VirtualTimers(() => virtualNow);
  try {
    manifest = await loadManifestFile(manifestPath);
    const bytes = await readComponentFile(file);
    const givenDataDir = flagString(args, 'data-dir');
    const dataDir = givenDataDir ?? defaultCacheRoot();
    store = givenDataDir ? new FileStore({ dir: join(givenDataDir, 'storage'), flushMs: 10_000 }) : new MemoryStore();
    const engine = new Engine({ cacheDir: join(dataDir, 'cache') });
    const prepared = await engine.prepare(bytes, { memoryMb: manifest.limits.memoryMb });
    // Debounce windows run on the virtual clock too, so `--gpio` edges settle between ticks.
    const scenarioPath = flagString(args, 'scenario');
    const scenario = scenarioPath ? await loadScenarioFile(scenarioPath) : undefined;
    sim = createSimBoard({ now: () => virtualNow, timers, ...(scenario ? { devices: { i2c: scenario.i2c, spi: scenario.spi } } : {}) });
    sim.gpio.on('output', (pin: number, value: boolean) => io.out(JSON.stringify({ gpio: { pin, value, ts: virtualNow } })));
    // Wired as the gateway wires it (drivers/component-wiring.ts); device events wait in `pending`.
    wired = await wireComponent(manifest, prepared, {
      board: sim,
      storage: store,
      now: () => virtualNow,
      sinks: {
        telemetry: (channel: string, sample: TelemetrySample) => io.out(JSON.stringify({ telemetry: { channel, ...sample, ts: virtualNow } })),
        message: (topic: string, payload: Uint8Array) => io.out(JSON.stringify({ message: { topic, payload: Buffer.from(payload).toString('utf8'), ts: virtualNow } })),
        log: (level, message) => io.out(JSON.stringify({ log: { level, message } })),
      },
      deliver: (event) => pending.push(event),
      onRefusal: (tag, message, op) => {
        errors++;
        printErr(tag, host?.currentEvent ?? 'host', `${op}: ${message}`);
      },
      onOutcome: (event, outcome: CallOutcome) => {
        if (!outcome.ok) {
          errors++;
          printErr(outcome.kind, event, outcome.message);
        }
      },
    });
    host = wired.host;
  } catch (err) {
    if (err instanceof GatewayError) throw new GatewayError('LOAD_FAILED', err.message);
    throw err;
  }

  const tickMs = manifest.tickMs ?? 1000;
  const ticks = flagInt(args, 'ticks', USAGE) ?? (manifest.tickMs ? 10 : 0);
  const restartTimes: number[] = [];
  let restarts = 0;
  let ticksRun = 0;
  let failed: string | undefined;

  // Restart after a crash, as the gateway's supervisor would: temporary never, transient/permanent
  // always; give up when more than `intensity` restarts fall within `period-ms` (virtual time, the
  // window includes its start, as runtime/supervision counts it). An init that returns err is a
  // crash here too (the gateway restarts it as `init-failed`).
  const recover = (outcome: CallOutcome, isInit = false): boolean => {
    if (outcome.ok || (outcome.kind === 'returned-err' && !isInit)) return true;
    if (manifest.restart.policy === 'temporary') {
      failed = `component crashed (${outcome.kind}) and its restart policy is temporary`;
      return false;
    }
    for (;;) {
      restartTimes.push(virtualNow);
      while (restartTimes.length && restartTimes[0]! < virtualNow - manifest.restart.periodMs) restartTimes.shift();
      if (restartTimes.length > manifest.restart.intensity) {
        failed = `component crashed more than ${manifest.restart.intensity} times in ${manifest.restart.periodMs} ms (last: ${outcome.kind}); it would be marked failed`;
        return false;
      }
      restarts++;
      if (host.start().ok) return true;
    }
  };

  const flush = async () => {
    for (let due = timers.takeDue(virtualNow); due; due = timers.takeDue(virtualNow)) due.fn();
    await new Promise((r) => setImmediate(r));
    while (pending.length && !failed) recover(host.deliver(pending.shift()!));
  };

  try {
    recover(host.start(), true);
    for (let t = 0; t < ticks && !failed; t++) {
      // Edges and frames that fell due since the last tick go first, then this tick's script.
      await flush();
      script.apply(t, sim, () => virtualNow);
      await flush();
      if (failed) break;
      if (!recover(host.deliver({ kind: 'tick', nowMs: virtualNow }))) break;
      ticksRun++;
      if (args.flags.realtime) await new Promise((r) => setTimeout(r, tickMs));
      virtualNow += tickMs;
    }
    if (!failed) {
      script.apply(ticks, sim, () => virtualNow);
      await flush();
    }
  } finally {
    store?.close();
    await wired.release();
    await sim.close();
  }
  io.out(JSON.stringify({ summary: { ticks: ticksRun, events: host.stats.events, errors, restarts, fuel: host.stats.totalFuel, version: manifest.version, sha256: host.sha256 } }));
  if (failed) {
    io.err(`error: ${failed}; fix the component (see the error lines above) and run it again`);
    return 1;
  }
  return 0;
};

function defaultCacheRoot(): string {
  const base = process.env.XDG_CACHE_HOME || (homedir() ? join(homedir(), '.cache') : tmpdir());
  return join(base, 'airssys');
}

interface Script {
  apply(tick: number, sim: ReturnType<typeof createSimBoard>, now: () => number): void;
}

function parseScript(gpio: unknown, serial: unknown): Script {
  const steps: { tick: number; run: (sim: ReturnType<typeof createSimBoard>, now: number) => void }[] = [];
  const list = (v: unknown) => (Array.isArray(v) ? (v as string[]) : typeof v === 'string' ? [v] : []);
  for (const spec of list(gpio)) {
    const m = /^(\d+)=([01])(?:@(\d+))?$/.exec(spec);
    if (!m) throw new GatewayError('USAGE', `--gpio ${JSON.stringify(spec)}: expected PIN=0|1 or PIN=0|1@TICK, e.g. --gpio 17=1@2`);
    const pin = Number(m[1]);
    const value = m[2] === '1';
    steps.push({ tick: Number(m[3] ?? 0), run: (sim, now) => sim.gpio.setInput(pin, value, now) });
  }
  for (const spec of list(serial)) {
    const m = /^([^=]+)=(.*?)(?:@(\d+))?$/s.exec(spec);
    if (!m) throw new GatewayError('USAGE', `--serial ${JSON.stringify(spec)}: expected PORT=TEXT or PORT=TEXT@TICK, e.g. --serial /dev/ttyUSB0='T=21.5\\n'`);
    const port = m[1]!;
    const text = m[2]!.replace(/\\n/g, '\n').replace(/\\r/g, '\r');
    steps.push({ tick: Number(m[3] ?? 0), run: (sim) => sim.serial.push(port, text) });
  }
  return {
    apply(tick, sim, now) {
      for (const s of steps) if (s.tick === tick) s.run(sim, now());
    },
  };
}

/** A `--scenario` file: the same keys as the gateway config's `board.options.scenario`. */
async function loadScenarioFile(path: string): Promise<Scenario> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    throw new GatewayError('USAGE', `cannot read --scenario ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}; check the path`);
  }
  let raw: unknown;
  try {
    raw = parseYaml(text);
  } catch (err) {
    throw new GatewayError('USAGE', `--scenario ${path} is not valid YAML: ${(err as Error).message.split('\n')[0]}; fix the file`);
  }
  try {
    return parseScenario(raw);
  } catch (err) {
    throw new GatewayError('USAGE', `--scenario ${path}: ${(err as Error).message.replace(/^config board\.options\.scenario/, 'scenario')}`);
  }
}
