/**
 * Runs INSIDE the VM that scripts/kernel-check.sh boots (root, a real Linux kernel with gpio-sim
 * loaded and configfs mounted). It drives the gateway's real GPIO driver (drivers/gpio/onoff-gpio.ts:
 * onoff over /sys/class/gpio, BCM numbers mapped through drivers/gpio/sysfs-map.ts) against
 * simulated chips labelled like the Pi's header chips, whose base numbers the kernel picks itself.
 *
 * The simulator is the independent witness: gpio-sim exposes each line's level as seen by the
 * kernel (sim_gpioN/value) and lets us pull inputs (sim_gpioN/pull), so a wrong label->base mapping
 * shows up as the wrong line moving, not as a driver that agrees with itself.
 *
 * Output: one line per check, `KC-RESULT <ok|fail> <name> <ms> <detail>`, plus `KC-METRIC` lines;
 * the host script parses them. Exit code 0 only when every check passed.
 */
import { existsSync, mkdirSync, readFileSync, readdirSync, realpathSync, rmdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { createOnoffGpio, type OnoffGpio } from '../../drivers/gpio/onoff-gpio.js';
import { findHeaderChip } from '../../drivers/gpio/sysfs-map.js';

const CONFIGFS = '/sys/kernel/config/gpio-sim';
const SYSFS_GPIO = '/sys/class/gpio';

let failures = 0;
function result(ok: boolean, name: string, ms: number, detail: string): void {
  if (!ok) failures++;
  console.log(`KC-RESULT ${ok ? 'ok' : 'fail'} ${name} ${ms.toFixed(1)} ${detail}`);
}
function metric(name: string, value: string): void {
  console.log(`KC-METRIC ${name} ${value}`);
}
async function check(name: string, fn: () => Promise<string> | string): Promise<boolean> {
  const t0 = performance.now();
  try {
    const detail = await fn();
    result(true, name, performance.now() - t0, detail);
    return true;
  } catch (err) {
    result(false, name, performance.now() - t0, (err as Error).message.replace(/\s+/g, ' '));
    return false;
  }
}
function assert(cond: unknown, msg: string): asserts cond {
  if (!cond) throw new Error(msg);
}
const read = (p: string): string => readFileSync(p, 'utf8').trim();
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface SimChip {
  device: string; // configfs device dir
  devName: string; // platform device, e.g. gpio-sim.0
  banks: Array<{ label: string; lines: number; chipName: string; simDir: string; base: number }>;
}

/** Creates one gpio-sim device with the given banks and brings it live (configfs). */
function createSim(name: string, banks: Array<{ label: string; lines: number }>): SimChip {
  const device = join(CONFIGFS, name);
  mkdirSync(device);
  banks.forEach((b, i) => {
    const bank = join(device, `bank${i}`);
    mkdirSync(bank);
    writeFileSync(join(bank, 'label'), b.label);
    writeFileSync(join(bank, 'num_lines'), String(b.lines));
  });
  writeFileSync(join(device, 'live'), '1');
  const devName = read(join(device, 'dev_name'));
  return {
    device,
    devName,
    banks: banks.map((b, i) => {
      const chipName = read(join(device, `bank${i}`, 'chip_name')); // gpiochipN: the character device
      const simDir = join('/sys/devices/platform', devName, chipName);
      // The sysfs (legacy) view of the same chip: /sys/class/gpio/gpiochip<base> whose device is ours.
      const sysfsChip = readdirSync(SYSFS_GPIO).find(
        (e) =>
          e.startsWith('gpiochip') &&
          realpathSync(join(SYSFS_GPIO, e)).startsWith(`/sys/devices/platform/${devName}/`) &&
          read(join(SYSFS_GPIO, e, 'label')) === b.label,
      );
      assert(sysfsChip, `no ${SYSFS_GPIO}/gpiochip* entry for ${devName}/${chipName} (${b.label}); is CONFIG_GPIO_SYSFS on?`);
      return { ...b, chipName, simDir, base: Number(read(join(SYSFS_GPIO, sysfsChip, 'base'))) };
    }),
  };
}

function destroySim(sim: SimChip): void {
  writeFileSync(join(sim.device, 'live'), '0');
  sim.banks.forEach((_, i) => rmdirSync(join(sim.device, `bank${i}`)));
  rmdirSync(sim.device);
}

const simValue = (dir: string, offset: number) => read(join(dir, `sim_gpio${offset}`, 'value'));
const pull = (dir: string, offset: number, up: boolean) => writeFileSync(join(dir, `sim_gpio${offset}`, 'pull'), up ? 'pull-up' : 'pull-down');

function waitFor<T>(what: string, timeoutMs: number, poll: () => T | undefined): Promise<T> {
  return new Promise((resolve, reject) => {
    const t0 = Date.now();
    const tick = () => {
      const v = poll();
      if (v !== undefined) return resolve(v);
      if (Date.now() - t0 > timeoutMs) return reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}`));
      setTimeout(tick, 1);
    };
    tick();
  });
}

function stats(xs: number[]): string {
  const s = [...xs].sort((a, b) => a - b);
  const q = (p: number) => s[Math.min(s.length - 1, Math.floor(p * s.length))]!;
  return `n=${s.length} p50=${q(0.5).toFixed(2)}ms p90=${q(0.9).toFixed(2)}ms max=${s[s.length - 1]!.toFixed(2)}ms`;
}

/** One Pi model: a header chip with its label and line count, next to a distractor chip. */
async function modelRun(tag: string, label: string, lines: number): Promise<void> {
  let sim: SimChip | undefined;
  let gpio: OnoffGpio | undefined;
  const ok = await check(`${tag}:configfs`, () => {
    // The distractor bank comes first so the kernel gives it a base before ours: the driver must
    // pick by label, not by position.
    sim = createSim(`airssys-${tag}`, [
      { label: 'gpio-sim-distractor', lines: 8 },
      { label, lines },
    ]);
    return sim.banks.map((b) => `${b.label}: ${sim!.devName}/${b.chipName} base ${b.base} (${b.lines} lines)`).join('; ');
  });
  if (!ok || !sim) return;
  const bank = sim.banks[1]!;
  const dir = bank.simDir;
  try {
    await check(`${tag}:find-header-chip`, () => {
      const chip = findHeaderChip();
      assert(chip.label === label, `findHeaderChip picked ${chip.label}, expected ${label}`);
      assert(chip.base === bank.base, `findHeaderChip says base ${chip.base}, the kernel says ${bank.base}`);
      assert(chip.ngpio === lines, `findHeaderChip says ${chip.ngpio} lines, the kernel has ${lines}`);
      return `${chip.label} base ${chip.base} ngpio ${chip.ngpio}: BCM 17 = gpio${chip.base + 17}`;
    });
    if (!(await check(`${tag}:driver-open`, async () => {
      gpio = await createOnoffGpio();
      return `OnoffGpio on ${gpio.chip.label} base ${gpio.chip.base}, pins BCM ${gpio.pins.min}-${gpio.pins.max}`;
    }))) return;
    const g = gpio!;

    await check(`${tag}:write`, () => {
      const seen: string[] = [];
      for (const v of [true, false, true]) {
        g.write(17, v);
        const kernel = simValue(dir, 17);
        seen.push(kernel);
        assert(kernel === (v ? '1' : '0'), `wrote ${v} to BCM 17, the simulator's line 17 reads ${kernel}`);
      }
      // Neighbours must not move: catches an off-by-base that lands on another line of our chip.
      assert(simValue(dir, 16) === '0' && simValue(dir, 18) === '0', 'a neighbour of line 17 changed');
      assert(existsSync(join(SYSFS_GPIO, `gpio${bank.base + 17}`)), `gpio${bank.base + 17} was not exported`);
      return `BCM 17 -> gpio${bank.base + 17}; simulator line 17 read ${seen.join(',')}`;
    });

    await check(`${tag}:read`, () => {
      const got: boolean[] = [];
      for (const up of [true, false, true]) {
        pull(dir, 22, up);
        got.push(g.read(22));
        assert(got[got.length - 1] === up, `pulled line 22 ${up ? 'up' : 'down'}, driver read ${got[got.length - 1]}`);
      }
      return `pulls up,down,up on line 22 read ${got.map((v) => (v ? 1 : 0)).join(',')}`;
    });

    await check(`${tag}:watch-edges`, async () => {
      pull(dir, 27, false);
      const events: Array<{ value: boolean; at: number }> = [];
      const unwatch = g.watch(27, 'both', 0, (value) => events.push({ value, at: performance.now() }));
      const latencies: number[] = [];
      const N = 40;
      let level = false;
      for (let i = 0; i < N; i++) {
        level = !level;
        const before = events.length;
        const t = performance.now();
        pull(dir, 27, level);
        const ev: { value: boolean; at: number } = await waitFor(`edge ${i + 1} (${level ? 'rising' : 'falling'})`, 5000, () => events[before]);
        assert(ev.value === level, `edge ${i + 1}: expected ${level ? 'rising' : 'falling'}, got value ${ev.value}`);
        latencies.push(ev.at - t);
      }
      await sleep(50);
      assert(events.length === N, `${N} pulls gave ${events.length} edge events`);
      unwatch();
      metric(`${tag}:edge-latency`, stats(latencies));
      return `${N} pulls on line 27 -> ${events.length} edges, alternating rising/falling; pull->callback ${stats(latencies)}`;
    });

    await check(`${tag}:watch-rising-debounced`, async () => {
      pull(dir, 23, false);
      const events: boolean[] = [];
      const unwatch = g.watch(23, 'rising', 20, (v) => events.push(v));
      // A bounce: up-down-up within a few ms must settle into ONE rising edge after 20 ms.
      pull(dir, 23, true);
      pull(dir, 23, false);
      pull(dir, 23, true);
      await sleep(150);
      pull(dir, 23, false); // falling: filtered out
      await sleep(150);
      unwatch();
      assert(events.length === 1 && events[0] === true, `expected one rising edge, got ${JSON.stringify(events)}`);
      return 'bounce up/down/up -> 1 rising edge after 20 ms debounce; the falling edge was filtered';
    });

    await check(`${tag}:close-unexports`, () => {
      const exported = [17, 22, 23, 27].map((p) => `gpio${bank.base + p}`);
      g.close();
      gpio = undefined;
      const left = exported.filter((e) => existsSync(join(SYSFS_GPIO, e)));
      assert(left.length === 0, `still exported after close(): ${left.join(', ')}`);
      return `unexported ${exported.join(', ')}`;
    });
  } finally {
    gpio?.close();
    await check(`${tag}:teardown`, () => {
      destroySim(sim!);
      return `${sim!.devName} removed`;
    });
  }
}

async function main(): Promise<void> {
  metric('node', `${process.version} ${process.arch}`);
  metric('kernel', read('/proc/sys/kernel/osrelease'));
  await check('no-header-chip', () => {
    try {
      findHeaderChip();
    } catch (err) {
      const msg = (err as Error).message;
      assert(/GPIO_HEADER_NOT_FOUND|no Raspberry Pi header/.test(`${(err as { code?: string }).code} ${msg}`), msg);
      return `before any simulated chip: ${msg}`;
    }
    throw new Error('findHeaderChip found a header chip on a machine without one');
  });
  await modelRun('pi4', 'pinctrl-bcm2711', 58);
  await modelRun('pi5', 'pinctrl-rp1', 54);
  console.log(`KC-GPIO-DONE failures=${failures}`);
  process.exitCode = failures === 0 ? 0 : 1;
}

main().catch((err) => {
  console.log(`KC-RESULT fail gpio-check 0 ${(err as Error).stack?.replace(/\s+/g, ' ')}`);
  console.log('KC-GPIO-DONE failures=1');
  process.exitCode = 1;
});
