/**
 * Runs INSIDE the VM that scripts/kernel-check.sh boots, after init.sh loaded i2c-stub with chips at
 * 0x20 and 0x76 and i2c-dev. It drives the gateway's real I2C driver (drivers/bus/linux-i2c.ts:
 * i2c-bus and our I2C_RDWR addon over /dev/i2c-N) against the stub, an SMBus-only adapter, so the
 * driver must find that out (I2C_FUNCS) and map each transfer onto SMBus.
 *
 * The independent witness is i2c-tools (i2cset/i2cget, their own SMBus ioctls): what the driver
 * writes, i2cget reads back, and what i2cset writes, the driver reads.
 *
 * Then the same driver against i2c-regs (scripts/kernel-check/i2c-regs.c), a plain-I2C test adapter
 * with a register device at 0x76, to show I2C_RDWR: a write then a read as ONE transaction (repeated
 * start) through our addon, two transactions through the fallback; the adapter counts them.
 *
 * usage: node --import tsx scripts/kernel-check/i2c-check.ts STUB_BUS [REGS_BUS]
 * Output: `KC-RESULT <ok|fail> <name> <ms> <detail>` lines, `KC-METRIC` lines; exit 0 when all passed.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { HostCallError } from '../../runtime/errors.js';
import { LinuxI2c } from '../../drivers/bus/linux-i2c.js';
import { Bme280, BME280_CHIP_ID } from '../../drivers/sim/bme280.js';

const bus = Number(process.argv[2]);
const regsBus = process.argv[3] === undefined || process.argv[3] === '' ? undefined : Number(process.argv[3]);
const REGS_PARAMS = '/sys/module/i2c_regs/parameters';
let failures = 0;
function result(ok: boolean, name: string, ms: number, detail: string): void {
  if (!ok) failures++;
  console.log(`KC-RESULT ${ok ? 'ok' : 'fail'} ${name} ${ms.toFixed(1)} ${detail}`);
}
function check(name: string, fn: () => string): void {
  const t0 = performance.now();
  try {
    const detail = fn();
    result(true, name, performance.now() - t0, detail);
  } catch (err) {
    result(false, name, performance.now() - t0, (err as Error).message.replace(/\s+/g, ' '));
  }
}
function assert(cond: unknown, msg: string): asserts cond {
  if (!cond) throw new Error(msg);
}
const hex = (b: ArrayLike<number>) => Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');
const i2cget = (addr: number, reg: number, mode = 'b', onBus = bus) => execFileSync('i2cget', ['-y', String(onBus), `0x${addr.toString(16)}`, `0x${reg.toString(16)}`, mode], { encoding: 'utf8' }).trim();
const i2cset = (addr: number, reg: number, value: number, mode = 'b') => execFileSync('i2cset', ['-y', String(bus), `0x${addr.toString(16)}`, `0x${reg.toString(16)}`, `0x${value.toString(16)}`, mode]);
function refusalOf(fn: () => unknown): HostCallError {
  try {
    fn();
  } catch (err) {
    if (err instanceof HostCallError) return err;
    throw new Error(`expected a refusal, got ${(err as Error).message}`);
  }
  throw new Error('expected a refusal, the transfer succeeded');
}

const logs: string[] = [];
const withAddon = new LinuxI2c({ log: (_l, m) => logs.push(m) });
const withoutAddon = new LinuxI2c({ useAddon: false });

check('i2c-funcs', () => {
  const a = withAddon.describe(bus);
  const b = withoutAddon.describe(bus);
  assert(a.addon, `the I2C_RDWR addon did not load (${logs.join('; ')}): build it with node drivers/bus/native/build.cjs`);
  assert(!a.funcs.i2c, 'i2c-stub reported plain I2C (I2C_FUNC_I2C): expected SMBus only');
  // i2c-bus names more bits than the driver looks at: compare the ones it does.
  const theirs = Object.fromEntries(Object.keys(a.funcs).map((k) => [k, (b.funcs as unknown as Record<string, boolean>)[k]]));
  assert(JSON.stringify(a.funcs) === JSON.stringify(theirs), `addon funcs ${JSON.stringify(a.funcs)} differ from i2c-bus's ${JSON.stringify(theirs)}`);
  return `I2C_FUNCS through our addon equals i2c-bus's: plain I2C no, SMBus byte/word/I2C-block yes; driver log: ${logs.join('; ')}`;
});

check('i2c-smbus-byte', () => {
  withAddon.transfer(bus, 0x20, Uint8Array.of(0x05, 0xa5), 0);
  const witness = i2cget(0x20, 0x05);
  assert(witness === '0xa5', `driver wrote 0xa5 to 0x05, i2cget read ${witness}`);
  i2cset(0x20, 0x06, 0x3c);
  const r = withAddon.transfer(bus, 0x20, Uint8Array.of(0x06), 1);
  assert(r[0] === 0x3c, `i2cset wrote 0x3c to 0x06, driver read 0x${hex(r)}`);
  return 'driver write-byte 0x05<-0xa5 seen by i2cget; i2cset 0x06<-0x3c read by the driver (SMBus read-byte)';
});

check('i2c-smbus-block', () => {
  const data = Uint8Array.from({ length: 40 }, (_, i) => (i * 7 + 1) & 0xff);
  withAddon.transfer(bus, 0x20, Uint8Array.of(0x80, ...data), 0);
  const back = withAddon.transfer(bus, 0x20, Uint8Array.of(0x80), 40);
  assert(hex(back) === hex(data), `wrote ${hex(data)}, read ${hex(back)}`);
  const w = i2cget(0x20, 0x80 + 35);
  assert(Number(w) === data[35], `i2cget at 0x${(0x80 + 35).toString(16)} read ${w}, want ${data[35]}`);
  // i2c-stub keeps a 16-bit cell per register (a word write does not show as two byte registers),
  // so the two bytes are set one register each, as on a real sensor's 16-bit register pair.
  i2cset(0x20, 0x10, 0x34);
  i2cset(0x20, 0x11, 0x12);
  const pair = withoutAddon.transfer(bus, 0x20, Uint8Array.of(0x10), 2);
  assert(pair[0] === 0x34 && pair[1] === 0x12, `i2cset 0x10<-0x34, 0x11<-0x12, driver (no addon) read ${hex(pair)}`);
  return '40 bytes at 0x80 written and read back in 32-byte SMBus I2C-block pieces (i2cget agrees at 0xa3); registers 0x10-0x11 set by i2cset read as [34 12] through i2c-bus alone';
});

check('i2c-absent', () => {
  const e = refusalOf(() => withAddon.transfer(bus, 0x21, Uint8Array.of(0), 1));
  assert(e.tag === 'absent', `want absent, got ${e.tag}: ${e.payload.val}`);
  return `no chip at 0x21: ${e.tag}: ${e.payload.val}`;
});

check('i2c-smbus-only-refusal', () => {
  const e = refusalOf(() => withAddon.transfer(bus, 0x20, Uint8Array.of(0x01, 0x02), 1));
  assert(e.tag === 'invalid' && /SMBus-only/.test(e.payload.val), `got ${e.tag}: ${e.payload.val}`);
  return `2-byte write then read on an SMBus-only adapter: ${e.tag}: ${e.payload.val}`;
});

check('i2c-missing-bus', () => {
  const e = refusalOf(() => withAddon.transfer(97, 0x20, Uint8Array.of(0), 1));
  assert(e.tag === 'invalid' && /do_i2c 0/.test(e.payload.val), `got ${e.tag}: ${e.payload.val}`);
  const line = withAddon.checkBus(97);
  assert(line && /do_i2c 0/.test(line), `checkBus(97): ${line}`);
  return `bus 97: ${e.tag}: ${e.payload.val}`;
});

check('i2c-bme280-image', () => {
  // The simulated BME280's register image loaded into the stub chip at 0x76 through the driver,
  // then read back as a BME280 driver would: chip id, then the 26-byte calibration block.
  const sim = new Bme280({ temperatureC: 21.5, pressurePa: 101325, humidityPct: 40 });
  const regs = (start: number, len: number) => (sim.write(Uint8Array.of(start)), sim.read(len));
  const cal = regs(0x88, 26);
  withAddon.transfer(bus, 0x76, Uint8Array.of(0x88, ...cal), 0);
  withAddon.transfer(bus, 0x76, Uint8Array.of(0xd0, BME280_CHIP_ID), 0);
  const id = withAddon.transfer(bus, 0x76, Uint8Array.of(0xd0), 1);
  const back = withAddon.transfer(bus, 0x76, Uint8Array.of(0x88), 26);
  assert(id[0] === BME280_CHIP_ID, `chip id 0x${hex(id)}`);
  assert(hex(back) === hex(cal), `calibration ${hex(back)} != ${hex(cal)}`);
  return `chip id 0x60 and calibration 0x88-0xa1 (${hex(cal).slice(0, 16)}...) round-trip at 0x76`;
});

if (regsBus === undefined) {
  result(false, 'i2c-rdwr', 0, 'no i2c-regs bus given (insmod i2c-regs.ko failed?)');
} else {
  const rb = regsBus;
  const counters = () => ({ xfers: Number(readFileSync(`${REGS_PARAMS}/xfers`, 'utf8')), nmsgs: Number(readFileSync(`${REGS_PARAMS}/last_nmsgs`, 'utf8')) });
  check('i2c-rdwr', () => {
    const d = withAddon.describe(rb);
    assert(d.funcs.i2c && d.addon, `i2c-regs: plain I2C ${d.funcs.i2c}, addon ${d.addon}`);
    withAddon.transfer(rb, 0x76, Uint8Array.of(0xd0, 0x60, 0x00, 0x00), 0);
    const before = counters();
    const r = withAddon.transfer(rb, 0x76, Uint8Array.of(0xd0), 3);
    const after = counters();
    assert(hex(r) === '600000', `read ${hex(r)} from 0xd0, want 600000`);
    assert(after.xfers - before.xfers === 1 && after.nmsgs === 2, `expected one transaction of 2 messages, the adapter saw ${after.xfers - before.xfers} transactions, the last of ${after.nmsgs}`);
    const witness = i2cget(0x76, 0xd0, 'b', rb);
    assert(witness === '0x60', `i2cget read ${witness}`);
    return 'plain-I2C adapter: 1-byte write + 3-byte read = ONE I2C_RDWR transaction of 2 messages (repeated start) through our addon; i2cget agrees (0x60)';
  });
  check('i2c-write-read-fallback', () => {
    const d = withoutAddon.describe(rb);
    assert(d.funcs.i2c && !d.addon, `without the addon: plain I2C ${d.funcs.i2c}, addon ${d.addon}`);
    const before = counters();
    const r = withoutAddon.transfer(rb, 0x76, Uint8Array.of(0xd0), 1);
    const after = counters();
    assert(r[0] === 0x60, `read 0x${hex(r)}`);
    assert(after.xfers - before.xfers === 2 && after.nmsgs === 1, `expected two transactions of 1 message, saw ${after.xfers - before.xfers}, the last of ${after.nmsgs}`);
    return 'without the addon the same transfer is a write, a stop, then a read: two transactions of one message each (i2c-bus i2cWriteSync/i2cReadSync)';
  });
  check('i2c-rdwr-absent', () => {
    const e = refusalOf(() => withAddon.transfer(rb, 0x77, Uint8Array.of(0xd0), 1));
    assert(e.tag === 'absent' && /ENXIO/.test(e.payload.val), `got ${e.tag}: ${e.payload.val}`);
    return `nothing at 0x77 (ENXIO from the adapter): ${e.tag}`;
  });
}

// Cost per transfer on the real kernel path (emulated CPU in TCG: a ceiling, not a Pi number).
if (failures === 0) {
  const n = 2000;
  const t0 = performance.now();
  for (let i = 0; i < n; i++) withAddon.transfer(bus, 0x20, Uint8Array.of(0x05), 1);
  const perByte = ((performance.now() - t0) * 1000) / n;
  const t1 = performance.now();
  for (let i = 0; i < n / 10; i++) withAddon.transfer(bus, 0x76, Uint8Array.of(0x88), 26);
  const perBlock = ((performance.now() - t1) * 1000) / (n / 10);
  console.log(`KC-METRIC i2c.transfer on i2c-stub (SMBus read-byte, 1 byte): ${perByte.toFixed(1)} µs per call (${n} calls)`);
  console.log(`KC-METRIC i2c.transfer on i2c-stub (26-byte calibration read, SMBus I2C-block): ${perBlock.toFixed(1)} µs per call (${n / 10} calls)`);
  if (regsBus !== undefined) {
    const t2 = performance.now();
    for (let i = 0; i < n / 10; i++) withAddon.transfer(regsBus, 0x76, Uint8Array.of(0x88), 26);
    console.log(`KC-METRIC i2c.transfer on i2c-regs (26-byte read, one I2C_RDWR): ${(((performance.now() - t2) * 1000) / (n / 10)).toFixed(1)} µs per call (${n / 10} calls)`);
  }
}
withAddon.close();
withoutAddon.close();
console.log(`KC-I2C-DONE failures=${failures}`);
process.exit(failures === 0 ? 0 : 1);
