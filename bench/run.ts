/**
 * `npm run bench [-- NAME...]`: runs every bench/*.bench.ts (or the named ones) one after another,
 * each in its own process so one benchmark's JIT state and garbage do not colour the next.
 * Numbers are printed, not asserted: the targets and recorded results live in docs/.
 */
import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';

const here = dirname(fileURLToPath(import.meta.url));
const wanted = process.argv.slice(2);
const benches = readdirSync(here)
  .filter((f) => f.endsWith('.bench.ts'))
  .filter((f) => wanted.length === 0 || wanted.some((w) => f.startsWith(w)))
  .sort();
if (benches.length === 0) {
  console.error(`error: no benchmark matches ${wanted.join(' ')}; available: ${readdirSync(here).filter((f) => f.endsWith('.bench.ts')).join(', ')}`);
  process.exit(1);
}
let failed = 0;
for (const file of benches) {
  console.log(`\n=== ${file} (${new Date().toISOString()}) ===`);
  const r = spawnSync(process.execPath, ['--import', 'tsx', '--expose-gc', '--input-type=module', '-e', `const m = await import(${JSON.stringify(join(here, file))}); await m.run();`], {
    stdio: 'inherit',
    env: { ...process.env },
  });
  if (r.status !== 0) failed++;
}
process.exit(failed ? 1 : 0);
