/**
 * `npm run bench -- install`: the size of a gateway install as a Pi gets it — `npm pack` of this
 * checkout, unpacked with the lock file beside it, `npm ci --omit=dev` — and proof that the install
 * can cold-load a component (transpile through the vendored jco) and refuses `airssys build` of
 * AssemblyScript with the one line that says how to add the compiler.
 * Target (Pi reality issue): node_modules ≤ 100 MB, nothing the gateway never loads.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { copyFileSync, lstatSync, mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');

function du(path: string): number {
  const st = lstatSync(path);
  if (!st.isDirectory()) return st.size;
  let total = 0;
  for (const e of readdirSync(path)) total += du(join(path, e));
  return total;
}
const mib = (n: number) => `${(n / 1048576).toFixed(1)} MiB`;

export async function run(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'airssys-install-'));
  try {
    const t0 = Date.now();
    const tgz = execFileSync('npm', ['pack', '--silent', '--pack-destination', dir], { cwd: root, encoding: 'utf8' }).trim().split('\n').pop()!;
    const app = join(dir, 'app');
    execFileSync('mkdir', ['-p', app]);
    execFileSync('tar', ['-xzf', join(dir, tgz), '-C', app, '--strip-components=1']);
    copyFileSync(join(root, 'package-lock.json'), join(app, 'package-lock.json'));
    const tPack = Date.now() - t0;
    const t1 = Date.now();
    execFileSync('npm', ['ci', '--omit=dev', '--no-audit', '--no-fund'], { cwd: app, stdio: 'ignore' });
    const tCi = Date.now() - t1;
    const nm = join(app, 'node_modules');
    const sizes = readdirSync(nm)
      .flatMap((e) => (e.startsWith('@') ? readdirSync(join(nm, e)).map((s) => `${e}/${s}`) : [e]))
      .filter((e) => !e.startsWith('.'))
      .map((e) => ({ name: e, bytes: du(join(nm, e)) }))
      .sort((a, b) => b.bytes - a.bytes);
    const total = du(nm);
    console.log(`tarball ${tgz}: ${mib(statSync(join(dir, tgz)).size)} (pack ${tPack} ms); npm ci --omit=dev ${tCi} ms`);
    console.log(`node_modules --omit=dev: ${mib(total)} (target ≤ 100 MiB); app folder ${mib(du(app))}`);
    console.log('largest packages:');
    for (const s of sizes.slice(0, 12)) console.log(`  ${s.name.padEnd(36)} ${mib(s.bytes)}`);

    // The install must still cold-load a component: run transpiles it through the vendored jco.
    const env = { ...process.env, AIRSSYS_USE_DIST: '1' };
    const built = spawnSync(process.execPath, [join(root, 'bin/airssys.mjs'), 'build', join(root, 'examples/pulse-counter/pulse-counter.ts'), '-o', join(dir, 'p.wasm')], { encoding: 'utf8' });
    if (built.status !== 0) throw new Error(`building the probe component in the checkout failed: ${built.stderr}`);
    const ran = spawnSync(process.execPath, [join(app, 'bin/airssys.mjs'), 'run', join(dir, 'p.wasm'), '--manifest', join(root, 'examples/pulse-counter/pulse-counter.yaml'), '--ticks', '3'], { encoding: 'utf8', env });
    const summary = ran.stdout.trim().split('\n').pop();
    console.log(`installed airssys run (cold load through the vendored jco): exit ${ran.status} ${ran.status === 0 ? summary : ran.stderr.trim()}`);
    const asc = spawnSync(process.execPath, [join(app, 'bin/airssys.mjs'), 'build', join(root, 'examples/pulse-counter/pulse-counter.ts'), '-o', join(dir, 'q.wasm')], { encoding: 'utf8', env });
    console.log(`installed airssys build x.ts without AssemblyScript: exit ${asc.status}: ${asc.stderr.trim()}`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
