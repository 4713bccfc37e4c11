import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { GatewayError } from '../../../runtime/errors.js';
import { flagString } from '../args.js';
import type { Verb } from '../io.js';
import { parseVerbArgs, usageError, type VerbSpec } from '../spec.js';

export const spec: VerbSpec = {
  name: 'test',
  summary: "run a component project's tests with the gateway's vitest (@airssys/testing)",
  usage: 'test [FILE.test.ts …] [--timeout MS]',
  about: "Runs vitest from this gateway in the current folder (no package.json, nothing downloaded): the given test files, or every *.test.ts under the folder. `@airssys/testing` resolves to the SDK's test helper (loadComponent). Prints vitest's report.",
  flags: [{ name: 'timeout', arg: 'MS', about: 'per-test timeout (default 300000: loading a component compiles it)' }],
  examples: ['airssys test thermo/thermo.test.ts'],
  exits: "vitest's: 0 all passed, 1 a test failed; 2 invalid arguments",
};
/** Loading a component builds it from source first: seconds on a Pi or a busy machine, not the 5 s vitest allows. */
export const DEFAULT_TEST_TIMEOUT_MS = 300_000;
/** What a component project's tests import the SDK's test helper as (`airssys new` writes it). */
export const TESTING_SPECIFIER = '@airssys/testing';

/**
 * `airssys test [FILES]`: runs a component project's vitest tests with the vitest that comes with
 * this gateway (no `npx` download, no package.json needed in the project), `@airssys/testing`
 * resolving to this install's SDK test helper, and a test timeout fit for compiling components.
 * Runs in the current folder; with no FILES, every `*.test.ts` under it. Exit status is vitest's.
 */
export const run: Verb = async (argv, io) => {
  const args = parseVerbArgs(argv, spec);
  const timeoutText = flagString(args, 'timeout');
  const timeout = timeoutText === undefined ? DEFAULT_TEST_TIMEOUT_MS : Number(timeoutText);
  if (!Number.isInteger(timeout) || timeout <= 0) throw usageError(spec, `--timeout ${JSON.stringify(timeoutText)} is not a number of milliseconds`);
  for (const f of args.positionals) if (!existsSync(f)) throw usageError(spec, `${f} not found; give the path of a test file from this folder`);

  const require = createRequire(import.meta.url);
  let vitestBin: string;
  try {
    vitestBin = path.join(path.dirname(require.resolve('vitest/package.json')), 'vitest.mjs');
  } catch {
    throw new GatewayError('NO_VITEST', 'vitest is not installed with this gateway (it comes with a checkout after `npm ci`); run `npm ci` in the gateway checkout, or add vitest to your project and alias @airssys/testing yourself');
  }
  const root = process.cwd();
  const tmp = mkdtempSync(path.join(tmpdir(), 'airssys-test-'));
  const config = path.join(tmp, 'vitest.config.mjs');
  writeFileSync(config, `// Written by airssys test; removed when it ends.
export default ${JSON.stringify({
    resolve: { alias: { [TESTING_SPECIFIER]: testingHelper() } },
    test: { root, include: ['**/*.test.ts'], exclude: ['**/node_modules/**'], testTimeout: timeout, hookTimeout: timeout },
    // Vitest keeps a cache next to the config: the temp folder, not the user's project.
    cacheDir: path.join(tmp, 'cache'),
  }, null, 2)};
`);
  try {
    return await new Promise<number>((resolve, reject) => {
      const child = spawn(process.execPath, [vitestBin, 'run', '--config', config, '--root', root, ...args.positionals], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, FORCE_COLOR: process.env.FORCE_COLOR ?? '0' } });
      forward(child.stdout!, io.out);
      forward(child.stderr!, io.err);
      child.on('error', reject);
      child.on('close', (code) => resolve(code ?? 1));
    });
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
};

/** This install's SDK test helper: the TypeScript source in a checkout, the compiled file in dist/. */
export function testingHelper(): string {
  const js = fileURLToPath(new URL('../../../sdk/testing.js', import.meta.url));
  const ts = js.replace(/\.js$/, '.ts');
  return existsSync(ts) ? ts : js;
}

function forward(stream: NodeJS.ReadableStream, write: (line: string) => void): void {
  let rest = '';
  stream.setEncoding('utf8');
  stream.on('data', (d: string) => {
    const lines = (rest + d).split('\n');
    rest = lines.pop()!;
    for (const l of lines) write(l);
  });
  stream.on('end', () => {
    if (rest) write(rest);
  });
}
