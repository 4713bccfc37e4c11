#!/usr/bin/env node
// scripts/footprint.cjs [APP_DIR] — memory and disk of the gateway's runtime pieces on this machine:
// RSS of node alone, with the runtime dependencies loaded, then with jco (component loading) and tsx
// (running from source), and `du` of APP_DIR/node_modules. One JSON line. The full gateway's RSS is
// measured separately (it needs components running; see docs/raspberry-pi.md).
'use strict';
const { createRequire } = require('node:module');
const { execFileSync } = require('node:child_process');
const { join, resolve } = require('node:path');
const { pathToFileURL } = require('node:url');

const app = resolve(process.argv[2] || join(__dirname, '..'));
const req = createRequire(join(app, 'package.json'));
const mib = (n) => Math.round((n / 1048576) * 10) / 10;
// Under qemu-user, /proc/self/stat (what memoryUsage().rss reads) comes back with rss 0; VmRSS from
// /proc/self/status is then the emulator process's, translation cache included: an upper bound.
let rssSource = 'memoryUsage';
const rss = () => {
  const r = process.memoryUsage().rss;
  if (r > 0) return mib(r);
  rssSource = 'VmRSS of the qemu process (upper bound)';
  const m = /VmRSS:\s+(\d+) kB/.exec(require('node:fs').readFileSync('/proc/self/status', 'utf8'));
  return m ? mib(Number(m[1]) * 1024) : 0;
};

(async () => {
  const out = { arch: process.arch, node: process.version, rssNodeMiB: rss() };
  for (const m of ['better-sqlite3', 'mqtt', 'yaml', 'pino', 'aedes', '@serialport/bindings-cpp', 'onoff']) req(m);
  // touch the native code paths so their pages count
  const Db = req('better-sqlite3');
  new Db(':memory:').prepare('select 1').get();
  out.rssDepsMiB = rss();
  await import(pathToFileURL(req.resolve('@bytecodealliance/jco')).href);
  out.rssDepsJcoMiB = rss();
  await import(pathToFileURL(req.resolve('tsx/esm/api')).href);
  out.rssDepsJcoTsxMiB = rss();
  out.rssSource = rssSource;
  try {
    out.nodeModules = execFileSync('du', ['-sh', join(app, 'node_modules')], { encoding: 'utf8' }).split('\t')[0];
    out.nodeBinary = execFileSync('du', ['-shL', process.execPath], { encoding: 'utf8' }).split('\t')[0];
  } catch {
    // du missing: leave the disk numbers out
  }
  console.log(JSON.stringify(out));
})().catch((err) => {
  console.error(`footprint: ${err.message}`);
  process.exit(1);
});
