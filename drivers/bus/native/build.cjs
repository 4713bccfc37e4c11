// Builds the addon on install. Never fails the install: the I2C driver works without it (a write
// then a read, or SMBus), and says so in the gateway log. Linux only (the ioctls are Linux's).
'use strict';
const { spawnSync } = require('node:child_process');
const { existsSync } = require('node:fs');
const { join } = require('node:path');

if (process.platform !== 'linux') {
  console.log('@airssys/i2c-rdwr: not Linux, skipped (the I2C driver is Linux only)');
  process.exit(0);
}
// npm names its bundled node-gyp in npm_config_node_gyp; outside npm, look next to npm.
const candidates = [process.env.npm_config_node_gyp, join(process.execPath, '../../lib/node_modules/npm/node_modules/node-gyp/bin/node-gyp.js')].filter(Boolean);
const gyp = candidates.find((p) => existsSync(p));
if (!gyp) {
  console.warn('@airssys/i2c-rdwr: node-gyp not found; not built (I2C falls back to a write then a read, or SMBus)');
  process.exit(0);
}
// node-gyp downloads Node's headers unless nodedir names an installation that has them (NodeSource's
// package and the official tarballs ship include/node next to bin/node): no network needed then.
const env = { ...process.env };
const prefix = join(process.execPath, '../..');
if (!env.npm_config_nodedir && existsSync(join(prefix, 'include/node/node_api.h'))) env.npm_config_nodedir = prefix;
const r = spawnSync(process.execPath, [gyp, 'rebuild'], { cwd: __dirname, stdio: 'inherit', env });
if (r.status !== 0) {
  console.warn('@airssys/i2c-rdwr: build failed (needs python3, make, gcc); I2C falls back to a write then a read, or SMBus');
}
process.exit(0);
