import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../gateway/config/index.js';
import { checkManifestAgainstPolicy } from '../../drivers/policy/policy.js';

/**
 * config/gateway.yaml (the README's default) and config/templates/gateway.pi.yaml must load, and
 * the default's policy must cover the example components' manifests. The config is copied into a
 * temporary tree with stub .wasm files, since the loader wants the built components to exist.
 */

const dirs: string[] = [];
afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

describe('shipped configs', () => {
  it('config/gateway.yaml: gw-1, sim board, embedded broker, the three examples within policy', () => {
    const root = mkdtempSync(join(tmpdir(), 'airssys-defcfg-'));
    dirs.push(root);
    mkdirSync(join(root, 'config'));
    cpSync('config/gateway.yaml', join(root, 'config/gateway.yaml'));
    cpSync('examples', join(root, 'examples'), { recursive: true, filter: (src) => !src.includes('node_modules') });
    mkdirSync(join(root, 'var/build'), { recursive: true });
    for (const c of ['thermostat', 'pulse-counter', 'vibration']) writeFileSync(join(root, `var/build/${c}.wasm`), 'stub');
    const cfg = loadConfig(join(root, 'config/gateway.yaml'), { env: {} });
    expect(cfg.gateway.id).toBe('gw-1');
    expect(cfg.gateway.dataDir).toBe(join(root, 'var'));
    expect(cfg.mqtt.embedded).toBe(true);
    expect(cfg.board.kind).toBe('sim');
    expect(cfg.components.map((c) => c.manifest.name)).toEqual(['thermostat', 'pulse-counter', 'vibration']);
    for (const c of cfg.components) expect(checkManifestAgainstPolicy(c.manifest, cfg.policy), c.manifest.name).toEqual([]);
  });

  it('config/templates/gateway.pi.yaml loads once its placeholders are filled', () => {
    const dir = mkdtempSync(join(tmpdir(), 'airssys-picfg-'));
    dirs.push(dir);
    const text = readFileSync('config/templates/gateway.pi.yaml', 'utf8')
      .replaceAll('@GATEWAY_ID@', 'gw-pi')
      .replaceAll('@DATA_DIR@', '/var/lib/airssys')
      .replaceAll('@BROKER_URL@', 'mqtts://broker.example:8883')
      .replaceAll('@CONFIG@', '/etc/airssys/gateway.yaml');
    expect(text).not.toMatch(/@[A-Z_]+@/);
    writeFileSync(join(dir, 'gateway.yaml'), text);
    const cfg = loadConfig(join(dir, 'gateway.yaml'), { env: {} });
    expect(cfg.board.kind).toBe('raspberry-pi');
    expect(cfg.mqtt.url).toBe('mqtts://broker.example:8883');
    expect(cfg.components).toEqual([]);
  });
});
