#!/usr/bin/env node
// Builds the example components into var/build/ (what config/gateway.yaml runs). Skips a component
// whose source has not changed since its last build, so `npm start` stays quick after the first run.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const out = join(root, 'var', 'build');
mkdirSync(out, { recursive: true });
const examples = ['thermostat', 'pulse-counter', 'vibration', 'weather-station', 'soil-probe'];
let failed = 0;
for (const name of examples) {
  const src = join(root, 'examples', name, `${name}.ts`);
  const wasm = join(out, `${name}.wasm`);
  const stamp = `${wasm}.src-sha256`;
  // The SDK is part of every component: a change there rebuilds them all.
  const sdk = join(root, 'sdk', 'assembly');
  const h = createHash('sha256').update(readFileSync(src));
  for (const f of readdirSync(sdk).sort()) if (f.endsWith('.ts')) h.update(readFileSync(join(sdk, f)));
  const hash = h.digest('hex');
  if (existsSync(wasm) && existsSync(stamp) && readFileSync(stamp, 'utf8') === hash) continue;
  const r = spawnSync(process.execPath, [join(root, 'bin', 'airssys.mjs'), 'build', src, '-o', wasm], { stdio: 'inherit', env: { ...process.env, AIRSSYS_FROM_SOURCE: '1' } });
  if (r.status !== 0) failed++;
  else writeFileSync(stamp, hash);
}
process.exit(failed ? 1 : 0);
