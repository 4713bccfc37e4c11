import { chmodSync, mkdirSync, mkdtempSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { createServer, type AddressInfo, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import * as aedesModule from 'aedes';
import { afterAll, describe, expect, it } from 'vitest';
import { run as doctorVerb } from '../../gateway/cli/verbs/doctor.js';
import { formatResult, runDoctor, type CheckResult, type DoctorOptions } from '../../gateway/doctor/index.js';
import { listSerialPorts } from '../../gateway/doctor/checks/serial.js';
import type { Identity } from '../../gateway/doctor/identity.js';

/**
 * `airssys doctor` against fake trees: sysfs GPIO of a Pi 4 (header chip base 512) and a Pi 5
 * (base 571), no GPIO at all, an export file the service user cannot write, /dev with and without
 * serial ports, a bad data dir, a clock in 1970, and brokers that are down or refuse the login.
 */

const dirs: string[] = [];
const tmp = (p = 'airssys-doctor-') => {
  const d = mkdtempSync(join(tmpdir(), p));
  dirs.push(d);
  return d;
};
afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

function put(root: string, rel: string, content = '', mode = 0o644): string {
  const p = join(root, rel);
  mkdirSync(dirname(p), { recursive: true });
  writeFileSync(p, content);
  chmodSync(p, mode);
  return p;
}

/** A sysfs tree: chips as [dirName, label, base, ngpio]; export with the given mode. */
function fakeSysfs(chips: [string, string, number, number][], exportMode = 0o660): string {
  const root = tmp('airssys-sysfs-');
  put(root, 'class/gpio/export', '', exportMode);
  put(root, 'class/gpio/unexport', '', exportMode);
  for (const [dir, label, base, ngpio] of chips) {
    put(root, `class/gpio/${dir}/label`, `${label}\n`);
    put(root, `class/gpio/${dir}/base`, `${base}\n`);
    put(root, `class/gpio/${dir}/ngpio`, `${ngpio}\n`);
  }
  return root;
}

const PI4: [string, string, number, number][] = [
  ['gpiochip512', 'pinctrl-bcm2711', 512, 58],
  ['gpiochip570', 'raspberrypi-exp-gpio', 570, 8],
];
const PI5: [string, string, number, number][] = [
  ['gpiochip512', 'gpio-brcmstb@107d508500', 512, 32],
  ['gpiochip544', 'gpio-brcmstb@107d517c00', 544, 15],
  ['gpiochip571', 'pinctrl-rp1', 571, 54],
];

/** /etc with pi in gpio (997) and dialout (20). */
function fakeEtc(): string {
  const etc = tmp('airssys-etc-');
  put(etc, 'passwd', 'root:x:0:0::/root:/bin/bash\npi:x:1000:1000::/home/pi:/bin/bash\n');
  put(etc, 'group', 'root:x:0:\ndialout:x:20:pi\ngpio:x:997:pi\npi:x:1000:\n');
  return etc;
}

/** Gid of files we create (whatever the test runner's is), so group bits decide access. */
const fileGid = () => statSync(put(tmp(), 'probe')).gid;
const member: Identity = { name: 'pi', uid: 4242, gids: [4242, 997, 20, fileGid()], source: 'passwd' };
const outsider: Identity = { name: 'pi', uid: 4242, gids: [4242], source: 'passwd' };

function fakeDev(entries: string[], links: Record<string, string> = {}, mode = 0o660): string {
  const dev = tmp('airssys-dev-');
  for (const e of entries) put(dev, e, '', mode);
  for (const [name, target] of Object.entries(links)) symlinkSync(target, join(dev, name));
  return dev;
}

function writeConfig(body: string): string {
  const dir = tmp('airssys-cfg-');
  chmodSync(dir, 0o770); // the data dir is created in here: group-writable, like /var/lib for root
  return put(dir, 'gateway.yaml', body);
}

const PI_CONFIG = (extra = '') => `gateway: { id: pi-test, data-dir: ./data }\nmqtt: { url: embedded, embedded-port: 0 }\nboard: raspberry-pi\n${extra}`;

const base = (o: Partial<DoctorOptions>): DoctorOptions => ({
  sysfsRoot: fakeSysfs(PI4),
  devRoot: fakeDev(['ttyUSB0']),
  etcRoot: fakeEtc(),
  identity: member,
  nodeVersion: 'v20.19.0',
  now: () => new Date('2025-06-01T12:00:00Z'),
  run: async () => ({ code: 0, stdout: 'yes\n', stderr: '' }),
  defaultConfigs: [],
  config: writeConfig(PI_CONFIG()),
  env: {},
  ...o,
});

async function check(name: string, o: Partial<DoctorOptions>): Promise<CheckResult> {
  const results = await runDoctor(base(o));
  const r = results.find((x) => x.name === name);
  if (!r) throw new Error(`no ${name} line in ${results.map(formatResult).join('\n')}`);
  return r;
}

describe('gpio', () => {
  it('Pi 4 (kernel 6.6+): header chip pinctrl-bcm2711 at base 512, export writable by a gpio member', async () => {
    const r = await check('gpio', {});
    expect(r.status).toBe('ok');
    expect(r.detail).toMatch(/pinctrl-bcm2711 .*base 512, 58 lines: BCM 17 = gpio529/);
  });

  it('Pi 5: picks pinctrl-rp1 at base 571 over the other chips', async () => {
    const r = await check('gpio', { sysfsRoot: fakeSysfs(PI5) });
    expect(r.status).toBe('ok');
    expect(r.detail).toMatch(/pinctrl-rp1 \(Pi 5\) base 571, 54 lines: BCM 17 = gpio588/);
  });

  it('no /sys/class/gpio at all: fail, with the fix', async () => {
    const r = await check('gpio', { sysfsRoot: tmp('airssys-nosys-') });
    expect(r.status).toBe('fail');
    expect(r.detail).toMatch(/class\/gpio does not exist/);
    expect(r.fix).toMatch(/board: sim/);
  });

  it('gpio chips but none is the header: fail naming what was found', async () => {
    const r = await check('gpio', { sysfsRoot: fakeSysfs([['gpiochip0', 'gpio-mockup-A', 0, 8]]) });
    expect(r.status).toBe('fail');
    expect(r.detail).toMatch(/no Raspberry Pi header GPIO chip .*gpio-mockup-A/);
  });

  it('export not writable by the service user: fail, fix adds it to gpio', async () => {
    const r = await check('gpio', { identity: outsider });
    expect(r.status).toBe('fail');
    expect(r.detail).toMatch(/export is not writable by pi \(mode 660/);
    expect(r.fix).toMatch(/usermod -aG gpio pi/);
  });

  it('board sim skips the hardware checks', async () => {
    const cfg = writeConfig('gateway: { id: sim-1, data-dir: ./data }\nmqtt: { url: embedded, embedded-port: 0 }\nboard: sim\n');
    const results = await runDoctor(base({ config: cfg, sysfsRoot: tmp(), devRoot: tmp(), identity: outsider }));
    for (const name of ['gpio', 'groups', 'serial']) expect(results.find((r) => r.name === name)?.status).toBe('ok');
  });
});

describe('groups', () => {
  it('member of gpio and dialout: ok', async () => {
    expect((await check('groups', { identity: { name: 'pi', uid: 1000, gids: [1000, 997, 20], source: 'passwd' } })).status).toBe('ok');
  });

  it('missing both: fail with one usermod line', async () => {
    const r = await check('groups', { identity: { name: 'pi', uid: 1000, gids: [1000], source: 'process' } });
    expect(r.status).toBe('fail');
    expect(r.detail).toBe('pi is not in gpio, dialout');
    expect(r.fix).toMatch(/sudo usermod -aG gpio,dialout pi, then log out and back in/);
  });

  it('a system without a gpio group says to create it', async () => {
    const etc = tmp();
    put(etc, 'group', 'dialout:x:20:pi\n');
    put(etc, 'passwd', 'pi:x:1000:1000::/home/pi:/bin/bash\n');
    const r = await check('groups', { etcRoot: etc, identity: { name: 'pi', uid: 1000, gids: [1000, 20], source: 'passwd' } });
    expect(r.status).toBe('fail');
    expect(r.fix).toMatch(/groupadd --system gpio/);
  });
});

describe('serial', () => {
  it('lists USB, ACM, AMA ports and the serial0 link by globbing /dev, not ttyS or tty1', async () => {
    const dev = fakeDev(['ttyUSB0', 'ttyACM0', 'ttyAMA10', 'ttyS0', 'ttyS1', 'tty1', 'ttyUSB1'], { serial0: 'ttyAMA10' });
    expect(listSerialPorts(dev)).toEqual(['serial0', 'ttyACM0', 'ttyAMA10', 'ttyUSB0', 'ttyUSB1']);
    const r = await check('serial', { devRoot: dev });
    expect(r.status).toBe('ok');
    expect(r.detail).toBe('serial0->ttyAMA10, ttyACM0, ttyAMA10, ttyUSB0, ttyUSB1: read/write for pi');
  });

  it('no serial ports: warn with how to enable the UART', async () => {
    const r = await check('serial', { devRoot: fakeDev(['ttyS0', 'null']) });
    expect(r.status).toBe('warn');
    expect(r.fix).toMatch(/raspi-config nonint do_serial_hw 0/);
  });

  it('a port the service user cannot open: fail, fix adds it to dialout', async () => {
    const r = await check('serial', { devRoot: fakeDev(['ttyUSB0']), identity: outsider });
    expect(r.status).toBe('fail');
    expect(r.detail).toMatch(/pi cannot open ttyUSB0/);
    expect(r.fix).toMatch(/usermod -aG dialout pi/);
  });

  it('a port a configured component needs is missing: fail', async () => {
    const cfg = writeConfig(PI_CONFIG(`components:\n  - source: vib.wasm\n    manifest: { name: vib, version: 1.0.0, capabilities: { serial: [{ port: /dev/ttyUSB3, baud: 9600, framing: line }] } }\n`));
    put(dirname(cfg), 'vib.wasm', 'not checked here');
    const r = await check('serial', { config: cfg });
    expect(r.status).toBe('fail');
    expect(r.detail).toMatch(/configured port \/dev\/ttyUSB3 not found \(present: ttyUSB0\)/);
  });
});

describe('node, clock, disk, config', () => {
  it('Node 18: fail with how to get 20', async () => {
    const r = await check('node', { nodeVersion: 'v18.19.0' });
    expect(r.status).toBe('fail');
    expect(r.fix).toMatch(/setup_20\.x/);
  });

  it('a clock in 1970 fails; NTP states map to ok / warn', async () => {
    const r = await check('clock', { now: () => new Date(0) });
    expect(r.status).toBe('fail');
    expect(r.detail).toMatch(/1970-01-01/);
    expect((await check('ntp', {})).status).toBe('ok');
    expect((await check('ntp', { run: async () => ({ code: 0, stdout: 'no\n', stderr: '' }) })).status).toBe('warn');
    const missing = await check('ntp', { run: async () => undefined });
    expect(missing.status).toBe('warn');
    expect(missing.detail).toMatch(/timedatectl not found/);
  });

  it('data dir that is a file: fail', async () => {
    const cfg = writeConfig(PI_CONFIG().replace('./data', './data-file'));
    put(dirname(cfg), 'data-file', 'x');
    const r = await check('disk', { config: cfg });
    expect(r.status).toBe('fail');
    expect(r.detail).toMatch(/data-file is not a folder/);
  });

  it('data dir under a file: fail', async () => {
    const cfg = writeConfig(PI_CONFIG().replace('./data', './blocker/data'));
    put(dirname(cfg), 'blocker', 'x');
    const r = await check('disk', { config: cfg });
    expect(r.status).toBe('fail');
    expect(r.detail).toMatch(/blocker is not a folder/);
  });

  it('data dir to be created: ok with free space; thresholds give warn and fail', async () => {
    const ok = await check('disk', {});
    expect(ok.status).toBe('ok');
    expect(ok.detail).toMatch(/MiB free for .*data \(to be created in /);
    expect((await check('disk', { disk: { failBelowBytes: 0, warnBelowBytes: Number.MAX_SAFE_INTEGER } })).status).toBe('warn');
    expect((await check('disk', { disk: { failBelowBytes: Number.MAX_SAFE_INTEGER, warnBelowBytes: Number.MAX_SAFE_INTEGER } })).status).toBe('fail');
  });

  it('data dir not writable by the service user: fail with an install -d fix', async () => {
    const cfg = writeConfig(PI_CONFIG());
    mkdirSync(join(dirname(cfg), 'data'), { mode: 0o755 });
    const r = await check('disk', { config: cfg, identity: outsider });
    expect(r.status).toBe('fail');
    expect(r.fix).toMatch(/sudo install -d -o pi -m 0750/);
  });

  it('an invalid config is one fail line and the other checks still run', async () => {
    const results = await runDoctor(base({ config: writeConfig('gateway: { id: "bad id!" }\nboard: raspberry-pi\nmqtt: { url: embedded, embedded-port: 0 }\n') }));
    const cfg = results.find((r) => r.name === 'config')!;
    expect(cfg.status).toBe('fail');
    expect(cfg.detail).toMatch(/gateway\.id/);
    expect(results.find((r) => r.name === 'gpio')?.status).toBe('ok');
  });
});

describe('i2c and spi', () => {
  const BME = `components:\n  - source: w.wasm\n    manifest: { name: weather, version: 1.0.0, capabilities: { i2c: [{ bus: 1, address: 0x76 }] } }\n`;
  /** A config with the component files next to it (the config check wants them to exist). */
  const cfgWith = (extra: string, board = 'raspberry-pi') => {
    const cfg = writeConfig(PI_CONFIG(extra).replace('board: raspberry-pi', `board: ${board}`));
    for (const f of ['w.wasm', 's.wasm']) put(dirname(cfg), f, 'not checked here');
    return cfg;
  };
  const ADC = `components:\n  - source: s.wasm\n    manifest: { name: soil, version: 1.0.0, capabilities: { spi: [{ bus: 0, chip-select: 1, speed-hz: 1000000, mode: 0 }] } }\n`;

  it('a bus a component names is there and openable: ok; buses no component names are listed', async () => {
    const dev = fakeDev(['i2c-1', 'i2c-20', 'spidev0.0', 'spidev0.1']);
    const i2c = await check('i2c', { devRoot: dev, config: cfgWith(BME) });
    expect(i2c.status).toBe('ok');
    expect(i2c.detail).toBe('/dev/i2c-1: read/write for pi');
    const spi = await check('spi', { devRoot: dev, config: cfgWith(BME) });
    expect(spi).toEqual({ name: 'spi', status: 'ok', detail: 'no component uses SPI (present: spidev0.0, spidev0.1)' });
  });

  it('I2C not enabled: fail naming the component, fix is raspi-config do_i2c', async () => {
    const r = await check('i2c', { devRoot: fakeDev(['ttyUSB0']), config: cfgWith(BME) });
    expect(r.status).toBe('fail');
    expect(r.detail).toBe('/dev/i2c-1 (for weather) does not exist: I2C bus 1 is not enabled; present: none');
    expect(r.fix).toBe('sudo raspi-config nonint do_i2c 0, then reboot');
  });

  it('SPI not enabled: fail, fix is raspi-config do_spi', async () => {
    const r = await check('spi', { devRoot: fakeDev(['i2c-1']), config: cfgWith(ADC) });
    expect(r.status).toBe('fail');
    expect(r.detail).toMatch(/^\/dev\/spidev0\.1 \(for soil\) does not exist: SPI bus 0 is not enabled/);
    expect(r.fix).toBe('sudo raspi-config nonint do_spi 0, then reboot');
  });

  it('a device the service user cannot open: fail, fix adds it to the group', async () => {
    const r = await check('spi', { devRoot: fakeDev(['spidev0.1']), config: cfgWith(ADC), identity: outsider });
    expect(r.status).toBe('fail');
    expect(r.detail).toMatch(/^pi cannot open \/dev\/spidev0\.1 \(mode 660/);
    expect(r.fix).toMatch(/^sudo usermod -aG spi pi and restart the service/);
  });

  it('a bus other than the header one names a dtoverlay', async () => {
    const r = await check('i2c', { devRoot: fakeDev([]), config: cfgWith(BME.replace('bus: 1', 'bus: 3')) });
    expect(r.status).toBe('fail');
    expect(r.fix).toMatch(/dtoverlay=i2c3/);
  });

  it('board sim: both ok without looking at /dev', async () => {
    const results = await runDoctor(base({ devRoot: fakeDev([]), config: cfgWith(BME, 'sim') }));
    expect(results.filter((r) => r.name === 'i2c' || r.name === 'spi').map((r) => r.status)).toEqual(['ok', 'ok']);
  });
});

async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as AddressInfo).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

/** An aedes broker that accepts only user gw / password right. */
async function authBroker(): Promise<{ port: number; close: () => Promise<void> }> {
  const mod = aedesModule as unknown as Record<string, any>;
  const factory = mod.createBroker ?? mod.default?.createBroker ?? mod.default;
  const broker = await factory();
  broker.authenticate = (_c: unknown, user: string | undefined, pass: Buffer | undefined, cb: (e: Error | null, ok: boolean) => void) => {
    if (user === 'gw' && pass?.toString() === 'right') return cb(null, true);
    const err = Object.assign(new Error('bad login'), { returnCode: 4 });
    cb(err, false);
  };
  const server: Server = createServer(broker.handle);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    port: (server.address() as AddressInfo).port,
    close: () => new Promise<void>((r) => broker.close(() => server.close(() => r()))),
  };
}

describe('broker', () => {
  it('unreachable port: a clear fail line naming the URL and the fix', async () => {
    const port = await freePort();
    const r = await check('broker', { config: writeConfig(PI_CONFIG().replace('url: embedded, embedded-port: 0', `url: mqtt://127.0.0.1:${port}`)), brokerTimeoutMs: 2000 });
    expect(r.status).toBe('fail');
    expect(r.detail).toBe(`cannot connect to mqtt://127.0.0.1:${port}: connect ECONNREFUSED 127.0.0.1:${port}`);
    expect(r.fix).toMatch(/nothing listens there/);
    expect(formatResult(r)).toMatch(/^fail broker {2}cannot connect .* — fix: /);
  });

  it('wrong credentials fail; right ones pass', async () => {
    const b = await authBroker();
    try {
      const url = `mqtt://127.0.0.1:${b.port}`;
      const bad = await check('broker', { config: writeConfig(PI_CONFIG().replace('url: embedded, embedded-port: 0', `url: ${url}, username: gw, password: wrong`)) });
      expect(bad.status).toBe('fail');
      expect(bad.detail).toMatch(/refused the credentials/);
      expect(bad.fix).toMatch(/mqtt\.username\/mqtt\.password/);
      const good = await check('broker', { config: writeConfig(PI_CONFIG().replace('url: embedded, embedded-port: 0', `url: ${url}, username: gw, password: right`)) });
      expect(good.status).toBe('ok');
      expect(good.detail).toBe(`connected to ${url} as gw`);
    } finally {
      await b.close();
    }
  });
});

describe('airssys doctor (the verb)', () => {
  const io = () => {
    const out: string[] = [];
    const err: string[] = [];
    return { out, err, io: { out: (l: string) => out.push(l), err: (l: string) => err.push(l) } };
  };

  it('one line per check, exit 1 when the broker is down', async () => {
    const port = await freePort();
    const cfg = writeConfig(PI_CONFIG().replace('url: embedded, embedded-port: 0', `url: mqtt://127.0.0.1:${port}`));
    const t = io();
    const code = await doctorVerb(['--config', cfg, '--sysfs', fakeSysfs(PI5), '--dev', fakeDev(['ttyACM0']), '--timeout', '1500'], t.io);
    expect(code).toBe(1);
    expect(t.out.slice(0, -1).every((l) => /^(ok |warn|fail) /.test(l))).toBe(true);
    expect(t.out.find((l) => l.startsWith('ok   gpio'))).toMatch(/base 571/);
    expect(t.out.find((l) => l.startsWith('fail broker'))).toMatch(/ECONNREFUSED/);
    expect(t.out.at(-1)).toMatch(/^1 check failed/);
  });

  it('exit 0 on a healthy simulated setup', async () => {
    const cfg = writeConfig('gateway: { id: sim-1, data-dir: ./data }\nmqtt: { url: embedded, embedded-port: 0 }\nboard: sim\n');
    const t = io();
    const code = await doctorVerb(['--config', cfg], t.io);
    expect(t.out.filter((l) => l.startsWith('fail'))).toEqual([]);
    expect(code).toBe(0);
  });

  it('rejects unknown options, pointing at --help', async () => {
    await expect(doctorVerb(['--bogus'], io().io)).rejects.toThrow(/unknown option --bogus for `airssys doctor`; run `airssys doctor --help`/);
  });
});
