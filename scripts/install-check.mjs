#!/usr/bin/env node
// scripts/install-check.mjs — does a gateway install, as a Pi gets it, work without the development
// dependencies? Shared by `npm run bench -- install` (x86_64, this machine) and
// `scripts/arm64-check.sh --install-only` (inside an emulated arm64 root), so both run one check.
//
// It is split in two because packing needs the checkout's build tooling (tsc for dist/, the
// AssemblyScript compiler for the probe component) and the install must not have it:
//   pack DIR    on the build machine: `npm pack` of this checkout (prepack builds dist/ with the
//               vendored jco), package-lock.json, a probe component built from
//               examples/pulse-counter, its manifest and source, and a copy of this script
//   verify DIR  where the install is checked (any Node ≥ 20 with npm, no checkout): unpack, `npm ci
//               --omit=dev`, du of node_modules, the installed `airssys run` cold-loads the probe
//               (transpiled through the vendored jco), `airssys build x.ts` refuses with one line,
//               `airssys doctor` runs
//   all         both, in a temporary directory removed afterwards
// verify prints one line per result and writes DIR/install-check.json; exit 1 when the install
// does not work (npm ci fails, run fails, build does not refuse in one line, doctor crashes).
// Plain JavaScript so that it runs on a bare Node (no tsx) inside the arm64 root.
import { execFileSync, spawnSync } from 'node:child_process';
import { copyFileSync, lstatSync, mkdirSync, mkdtempSync, openSync, closeSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const PROBE = 'examples/pulse-counter/pulse-counter';

function du(path) {
  const st = lstatSync(path);
  if (!st.isDirectory()) return st.size;
  let total = 0;
  for (const e of readdirSync(path)) total += du(join(path, e));
  return total;
}
const mib = (n) => `${(n / 1048576).toFixed(1)} MiB`;
const timed = (fn) => {
  const t0 = Date.now();
  const value = fn();
  return { value, ms: Date.now() - t0 };
};

/** On the build machine: everything verify needs, into dir. */
export function pack({ checkout = join(here, '..'), dir }) {
  mkdirSync(dir, { recursive: true });
  const { value: out, ms: packMs } = timed(() =>
    execFileSync('npm', ['pack', '--silent', '--pack-destination', dir], { cwd: checkout, encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] }),
  );
  const tarball = out.trim().split('\n').pop();
  copyFileSync(join(checkout, 'package-lock.json'), join(dir, 'package-lock.json'));
  const built = spawnSync(process.execPath, [join(checkout, 'bin/airssys.mjs'), 'build', join(checkout, `${PROBE}.ts`), '-o', join(dir, 'probe.wasm')], { encoding: 'utf8' });
  if (built.status !== 0) throw new Error(`building the probe component in the checkout failed: ${built.stderr}`);
  copyFileSync(join(checkout, `${PROBE}.yaml`), join(dir, 'probe.yaml'));
  copyFileSync(join(checkout, `${PROBE}.ts`), join(dir, 'probe.ts'));
  copyFileSync(fileURLToPath(import.meta.url), join(dir, 'install-check.mjs'));
  const packed = { tarball, tarballBytes: statSync(join(dir, tarball)).size, packMs };
  writeFileSync(join(dir, 'pack.json'), JSON.stringify(packed, null, 2));
  console.log(`tarball ${tarball}: ${mib(packed.tarballBytes)} (npm pack, with the dist/ build, ${packMs} ms)`);
  return packed;
}

/** Where the install is checked: only Node and npm (and a compiler for the native addons). */
export function verify({ dir }) {
  const { tarball } = JSON.parse(readFileSync(join(dir, 'pack.json'), 'utf8'));
  const app = join(dir, 'app');
  rmSync(app, { recursive: true, force: true });
  mkdirSync(app);
  execFileSync('tar', ['-xzf', join(dir, tarball), '-C', app, '--strip-components=1']);
  copyFileSync(join(dir, 'package-lock.json'), join(app, 'package-lock.json'));
  const problems = [];

  // npm's own output (node-gyp's compiles) goes to a log: long under emulation, and only read on failure
  const logFile = join(dir, 'npm-ci.log');
  const fd = openSync(logFile, 'w');
  const { value: ci, ms: ciMs } = timed(() => spawnSync('npm', ['ci', '--omit=dev', '--no-audit', '--no-fund', '--foreground-scripts'], { cwd: app, stdio: ['ignore', fd, fd] }));
  closeSync(fd);
  console.log(`npm ci --omit=dev: exit ${ci.status} in ${(ciMs / 1000).toFixed(1)} s (${process.arch}, node ${process.version}; log ${logFile})`);
  if (ci.status !== 0) {
    console.log(readFileSync(logFile, 'utf8').split('\n').slice(-20).join('\n'));
    throw new Error(`npm ci --omit=dev failed (exit ${ci.status}); see ${logFile}`);
  }

  const nm = join(app, 'node_modules');
  const sizes = readdirSync(nm)
    .flatMap((e) => (e.startsWith('@') ? readdirSync(join(nm, e)).map((s) => `${e}/${s}`) : [e]))
    .filter((e) => !e.startsWith('.'))
    .map((e) => ({ name: e, bytes: du(join(nm, e)) }))
    .sort((a, b) => b.bytes - a.bytes);
  const nodeModulesBytes = du(nm);
  const appBytes = du(app);
  console.log(`node_modules --omit=dev: ${mib(nodeModulesBytes)} (target ≤ 100 MiB); app folder ${mib(appBytes)}`);
  console.log('largest packages:');
  for (const s of sizes.slice(0, 12)) console.log(`  ${s.name.padEnd(36)} ${mib(s.bytes)}`);

  // The installed command, never the checkout's: it must work from dist/ and the vendored jco alone.
  // It runs in dir, so that doctor judges this machine and not a config/gateway.yaml it finds in
  // the caller's folder.
  const env = { ...process.env, AIRSSYS_USE_DIST: '1' };
  // Ten minutes each (a cold load on emulated arm64 takes minutes): a hung command is a problem
  // reported below, not a check that never ends. A spawn that failed has no output: make it ''.
  const airssys = (...args) =>
    timed(() => {
      const r = spawnSync(process.execPath, [join(app, 'bin/airssys.mjs'), ...args], { cwd: dir, encoding: 'utf8', env, timeout: 600_000, killSignal: 'SIGKILL' });
      return { ...r, stdout: r.stdout ?? '', stderr: r.stderr ?? (r.error ? String(r.error.message) : '') };
    });

  const { value: ran, ms: runMs } = airssys('run', join(dir, 'probe.wasm'), '--manifest', join(dir, 'probe.yaml'), '--ticks', '3');
  const runLine = ran.status === 0 ? ran.stdout.trim().split('\n').pop() : ran.stderr.trim();
  console.log(`installed airssys run (cold load through the vendored jco): exit ${ran.status} in ${(runMs / 1000).toFixed(1)} s: ${runLine}`);
  if (ran.status !== 0) problems.push(`airssys run exited ${ran.status}`);

  const { value: asc } = airssys('build', join(dir, 'probe.ts'), '-o', join(dir, 'refused.wasm'));
  const ascLines = asc.stderr.trim().split('\n');
  console.log(`installed airssys build x.ts without AssemblyScript: exit ${asc.status}: ${asc.stderr.trim()}`);
  if (asc.status === 0 || ascLines.length !== 1 || !/AssemblyScript compiler is not installed/.test(ascLines[0])) problems.push('airssys build did not refuse with the one-line message');

  // doctor judges the machine (GPIO, serial, clock): a fail there is the machine's, not the
  // install's. The install fails only if doctor cannot run (exit other than 0 or 1).
  const { value: doc, ms: doctorMs } = airssys('doctor');
  const doctorLines = doc.stdout.trim().split('\n').filter(Boolean);
  console.log(`installed airssys doctor: exit ${doc.status} in ${(doctorMs / 1000).toFixed(1)} s`);
  for (const l of doctorLines) console.log(`  ${l}`);
  if (doc.status !== 0 && doc.status !== 1) problems.push(`airssys doctor exited ${doc.status}: ${doc.stderr.trim()}`);

  const result = {
    arch: process.arch, node: process.version, tarball, ciMs, nodeModulesBytes, appBytes,
    largest: sizes.slice(0, 12), run: { status: ran.status, ms: runMs, summary: runLine },
    build: { status: asc.status, stderr: asc.stderr.trim() },
    doctor: { status: doc.status, ms: doctorMs, summary: doctorLines.at(-1) }, problems,
  };
  writeFileSync(join(dir, 'install-check.json'), JSON.stringify(result, null, 2));
  console.log(problems.length ? `install check FAILED: ${problems.join('; ')}` : 'install check passed');
  return result;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const [cmd, dirArg] = process.argv.slice(2);
  try {
    if (cmd === 'pack' && dirArg) pack({ dir: dirArg });
    else if (cmd === 'verify' && dirArg) process.exitCode = verify({ dir: dirArg }).problems.length ? 1 : 0;
    else if (cmd === 'all') {
      const dir = mkdtempSync(join(tmpdir(), 'airssys-install-'));
      try {
        pack({ dir });
        process.exitCode = verify({ dir }).problems.length ? 1 : 0;
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    } else {
      console.error('usage: node scripts/install-check.mjs pack DIR | verify DIR | all');
      process.exitCode = 2;
    }
  } catch (err) {
    console.error(`install-check: ${err instanceof Error ? err.message : err}`);
    process.exitCode = 1;
  }
}
