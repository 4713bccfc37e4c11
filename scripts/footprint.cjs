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
const rss = () => mib(process.memoryUsage().rss);

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
