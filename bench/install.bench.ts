/**
 * `npm run bench -- install`: the size of a gateway install as a Pi gets it — `npm pack` of this
 * checkout, unpacked with the lock file beside it, `npm ci --omit=dev` — and proof that the install
 * can cold-load a component (transpile through the vendored jco), refuses `airssys build` of
 * AssemblyScript with the one line that says how to add the compiler, and runs `airssys doctor`.
 * The check itself is scripts/install-check.mjs, shared with `scripts/arm64-check.sh --install-only`
 * (the same check inside an emulated arm64 root).
 * Target (Pi reality issue): node_modules ≤ 100 MB, nothing the gateway never loads.
 */
import { spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');

export async function run(): Promise<void> {
  const r = spawnSync(process.execPath, [join(root, 'scripts/install-check.mjs'), 'all'], { cwd: root, stdio: 'inherit' });
  if (r.status !== 0) throw new Error(`scripts/install-check.mjs all exited ${r.status}`);
}
