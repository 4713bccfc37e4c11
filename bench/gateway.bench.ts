/**
 * The whole gateway process (issue 6): resident memory with the three example components running
 * on the simulated board with the embedded broker, sampled after it has settled.
 * Run: `npm run bench -- gateway` (builds the examples first if needed). Target: RSS < 80 MB.
 */
import { spawn, spawnSync } from 'node:child_process';
import { cp, mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parse, stringify } from 'yaml';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');

async function rssKb(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  return Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0);
}

async function measure(label: string, args: string[], env: NodeJS.ProcessEnv, settleMs: number) {
  const child = spawn(process.execPath, args, { cwd: root, env: { ...process.env, ...env }, stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  child.stderr.on('data', (d) => (err += d));
  const samples: number[] = [];
  const started = Date.now();
  while (Date.now() - started < settleMs) {
    await new Promise((r) => setTimeout(r, 1000));
    if (child.exitCode !== null) throw new Error(`gateway exited: ${err}`);
    samples.push(await rssKb(child.pid!));
  }
  child.kill('SIGTERM');
  await new Promise((r) => child.once('exit', r));
  const mb = (kb: number) => (kb / 1024).toFixed(1);
  return { run: label, 'RSS after settle (MB)': mb(samples.at(-1)!), 'peak RSS (MB)': mb(Math.max(...samples)) };
}

export async function run(): Promise<void> {
  const built = spawnSync(process.execPath, [join(root, 'scripts', 'build-examples.mjs')], { stdio: 'inherit' });
  if (built.status !== 0) throw new Error('could not build the examples');
  const dir = await mkdtemp(join(tmpdir(), 'airssys-bench-gw-'));
  const config = parse(await readFile(join(root, 'config', 'gateway.yaml'), 'utf8')) as Record<string, any>;
  config.gateway['data-dir'] = join(dir, 'var');
  config.mqtt['embedded-port'] = 0;
  config.log = { level: 'warn' };
  for (const c of config.components) {
    c.source = join(root, 'config', c.source);
    c.manifest = join(root, 'config', c.manifest);
  }
  const file = join(dir, 'gateway.yaml');
  await writeFile(file, stringify(config));
  const args = [join(root, 'bin', 'airssys.mjs'), 'start', '--config', file];
  // First start fills the cache (cold: jco loaded); the second is a warm start, as on a Pi after boot.
  const rows = [await measure('first start (cold cache, jco loaded)', args, { AIRSSYS_FROM_SOURCE: '1' }, 12_000)];
  rows.push(await measure('warm start, from sources via tsx', args, { AIRSSYS_FROM_SOURCE: '1' }, 12_000));
  // Compiled JavaScript, as `npm run build` makes it, but into .tmp/ so bin/ keeps running sources here.
  const out = join(root, '.tmp', 'bench-dist');
  spawnSync('npx', ['tsc', '-p', 'tsconfig.json', '--outDir', out], { cwd: root, stdio: 'inherit' });
  await cp(join(root, 'wit'), join(out, 'wit'), { recursive: true });
  const main = join(out, 'gateway', 'cli', 'main.js');
  rows.push(await measure('warm start, compiled JavaScript', [main, 'start', '--config', file], {}, 12_000));
  // The Pi service unit runs Node with a small young generation: V8's default semi-spaces are sized for servers.
  rows.push(await measure('warm start, compiled, --max-semi-space-size=1', ['--max-semi-space-size=1', main, 'start', '--config', file], {}, 12_000));
  console.log('gateway RSS, three example components, simulated board, embedded broker; target < 80 MB');
  console.table(rows);
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) await run();
