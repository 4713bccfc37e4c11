import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify as toYaml } from 'yaml';
import { afterAll, describe, expect, it } from 'vitest';
import { buildWat } from '../../runtime/build/wat.js';
import { busReaderWat } from '../helpers/bus-components.js';
import { GatewayProcess } from '../helpers/gateway-process.js';
import { freePort, until } from '../helpers/mosquitto.js';

/**
 * The real gateway process on `board: raspberry-pi` (a fake sysfs header chip, a /dev without the
 * bus): a component granted I2C bus 1 when /dev/i2c-1 does not exist is refused at start, in one
 * line naming the fix, with a non-zero exit, never at the first transfer.
 */
const dirs: string[] = [];
const procs: GatewayProcess[] = [];
afterAll(() => {
  for (const p of procs) p.kill();
  dirs.forEach((d) => rmSync(d, { recursive: true, force: true }));
});

function fakePi(): { gpio: string; dev: string; dir: string } {
  const dir = mkdtempSync(join(tmpdir(), 'airssys-pi-bus-'));
  dirs.push(dir);
  const gpio = join(dir, 'sys/class/gpio');
  mkdirSync(join(gpio, 'gpiochip512'), { recursive: true });
  for (const [f, v] of [['export', ''], ['unexport', ''], ['gpiochip512/label', 'pinctrl-bcm2711'], ['gpiochip512/base', '512'], ['gpiochip512/ngpio', '58']]) writeFileSync(join(gpio, f!), `${v}\n`);
  const dev = join(dir, 'dev');
  mkdirSync(dev);
  return { gpio, dev, dir };
}

describe('raspberry-pi board, I2C not enabled', () => {
  it('refuses to start with one line: the component, the bus, and raspi-config do_i2c', async () => {
    const { gpio, dev, dir } = fakePi();
    writeFileSync(join(dir, 'weather.wasm'), await buildWat(busReaderWat()));
    const config = join(dir, 'gateway.yaml');
    writeFileSync(
      config,
      toYaml({
        gateway: { id: 'gw-bus', 'data-dir': join(dir, 'data') },
        mqtt: { url: 'embedded', 'embedded-port': await freePort() },
        board: { kind: 'raspberry-pi', options: { sysfsRoot: gpio, devRoot: dev } },
        log: { level: 'warn' },
        policy: { roles: { sensors: { telemetry: ['*'], i2c: [{ bus: 1, address: 0x76 }] } }, components: { weather: ['sensors'] } },
        components: [{ source: 'weather.wasm', manifest: { name: 'weather', version: '1.0.0', capabilities: { telemetry: ['*'], i2c: [{ bus: 1, address: 0x76 }] } } }],
      }),
    );
    const gw = new GatewayProcess(config, 'gw-bus');
    procs.push(gw);
    await until(() => gw.child.exitCode !== null, 60_000, `the gateway to exit; stderr: ${gw.stderr}`);
    expect(gw.child.exitCode).not.toBe(0);
    const lines = gw.stderr.trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(new RegExp(`component weather: i2c bus 1: ${dev}/i2c-1 does not exist: I2C is not enabled; run sudo raspi-config nonint do_i2c 0 and reboot`));
  });
});
