import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

/**
 * First boot: prepare-boot.sh on a fake boot partition (with and without Raspberry Pi Imager's
 * firstrun.sh), then our firstrun.sh as the Pi would run it, against a temporary root.
 * --node-arch none keeps the registry out of the test.
 */

const PREPARE = resolve('scripts/firstrun/prepare-boot.sh');
const CMDLINE = 'console=serial0,115200 console=tty1 root=PARTUUID=4e639091-02 rootfstype=ext4 fsck.repair=yes rootwait quiet';
const IMAGER_FIRSTRUN = `#!/bin/bash

set +e

CURRENT_HOSTNAME=\`cat /etc/hostname | tr -d " \\t\\n\\r"\`
echo gw-kitchen >/etc/hostname
rm -f /boot/firstrun.sh
sed -i 's| systemd.run.*||g' /boot/cmdline.txt
exit 0
`;

const dirs: string[] = [];
afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));
function bootDir(withImager: boolean): string {
  const d = mkdtempSync(join(tmpdir(), 'airssys-boot-'));
  dirs.push(d);
  writeFileSync(join(d, 'config.txt'), 'dtparam=audio=on\n');
  writeFileSync(join(d, 'cmdline.txt'), `${CMDLINE}\n`);
  if (withImager) writeFileSync(join(d, 'firstrun.sh'), IMAGER_FIRSTRUN);
  return d;
}
const prepare = (args: string[]) => spawnSync('bash', [PREPARE, ...args, '--node-arch', 'none'], { encoding: 'utf8', timeout: 60_000 });

describe('prepare-boot.sh', () => {
  it('with Imager customisation: hooks into its firstrun.sh once, before it deletes itself', () => {
    const boot = bootDir(true);
    for (let i = 0; i < 2; i++) {
      const r = prepare([boot, '--broker', 'mqtt://10.0.0.5:1883', '--gateway-id', 'gw-kitchen']);
      expect(r.stderr).toBe('');
      expect(r.status).toBe(0);
    }
    const lines = readFileSync(join(boot, 'firstrun.sh'), 'utf8').split('\n');
    const hook = lines.findIndex((l) => l.endsWith('# airssys'));
    expect(lines.filter((l) => l.endsWith('# airssys'))).toHaveLength(1);
    expect(lines[hook]).toContain('"$d/airssys/enable-firstboot.sh"');
    expect(lines[hook + 1]).toBe('rm -f /boot/firstrun.sh');
    expect(readFileSync(join(boot, 'cmdline.txt'), 'utf8')).toBe(`${CMDLINE}\n`); // untouched
    expect(spawnSync('bash', ['-n', join(boot, 'firstrun.sh')]).status).toBe(0);

    const env = readFileSync(join(boot, 'airssys/airssys.env'), 'utf8');
    expect(env).toMatch(/^BROKER=mqtt:\/\/10\.0\.0\.5:1883$/m);
    expect(env).toMatch(/^GATEWAY_ID=gw-kitchen$/m);
    for (const f of ['firstboot.sh', 'enable-firstboot.sh', 'firstrun.sh', 'airssys-firstboot.service', 'airssys-gateway.tgz']) {
      expect(existsSync(join(boot, 'airssys', f)), f).toBe(true);
    }
    const list = spawnSync('tar', ['-tzf', join(boot, 'airssys/airssys-gateway.tgz')], { encoding: 'utf8' }).stdout.split('\n');
    expect(list).toContain('./package-lock.json'); // npm ci needs it; npm pack would drop it
    expect(list).toContain('./scripts/install-pi.sh');
    expect(list).toContain('./config/templates/gateway.pi.yaml');
    expect(list.some((f) => f.startsWith('./node_modules/'))).toBe(false);
  });

  it('without Imager: a systemd.run hook in cmdline.txt that firstrun.sh enables the install with and removes', () => {
    const boot = bootDir(false);
    expect(prepare([boot]).status).toBe(0);
    expect(prepare([boot]).status).toBe(0);
    const cmdline = readFileSync(join(boot, 'cmdline.txt'), 'utf8');
    expect(cmdline.split('\n').filter(Boolean)).toHaveLength(1);
    expect(cmdline.match(/systemd\.run=/g)).toHaveLength(1);
    expect(cmdline).toContain(' systemd.run=/boot/firmware/airssys/firstrun.sh systemd.run_success_action=reboot systemd.unit=kernel-command-line.target');
    expect(readFileSync(join(boot, 'airssys/airssys.env'), 'utf8')).toMatch(/^BROKER=embedded$/m);

    // what the Pi does on first boot, against a temporary root
    const sysroot = mkdtempSync(join(tmpdir(), 'airssys-sysroot-'));
    dirs.push(sysroot);
    mkdirSync(join(sysroot, 'etc/systemd/system'), { recursive: true });
    const r = spawnSync('sh', [join(boot, 'airssys/firstrun.sh')], {
      encoding: 'utf8',
      env: { ...process.env, AIRSSYS_SYSROOT: sysroot, AIRSSYS_BOOT_PATH: '/boot/firmware' },
    });
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    const unit = readFileSync(join(sysroot, 'etc/systemd/system/airssys-firstboot.service'), 'utf8');
    expect(unit).toMatch(/^ExecStart=\/bin\/bash \/boot\/firmware\/airssys\/firstboot\.sh$/m);
    expect(unit).toMatch(/^After=network-online\.target/m);
    expect(readlinkSync(join(sysroot, 'etc/systemd/system/multi-user.target.wants/airssys-firstboot.service'))).toBe('/etc/systemd/system/airssys-firstboot.service');
    expect(readFileSync(join(boot, 'cmdline.txt'), 'utf8')).toBe(`${CMDLINE}\n`);
  });

  it('refuses a folder that is not a boot partition, and a bad broker', () => {
    const notBoot = mkdtempSync(join(tmpdir(), 'airssys-notboot-'));
    dirs.push(notBoot);
    const r = prepare([notBoot]);
    expect(r.status).not.toBe(0);
    expect(r.stderr).toMatch(/has no config\.txt\/cmdline\.txt/);
    const b = prepare([bootDir(false), '--broker', 'broker.local']);
    expect(b.status).not.toBe(0);
    expect(b.stderr).toMatch(/--broker broker\.local: expected mqtt/);
  });
});
