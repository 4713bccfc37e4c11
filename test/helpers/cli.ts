import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { main } from '../../gateway/cli/main.js';

export const BIN = fileURLToPath(new URL('../../bin/airssys.mjs', import.meta.url));

/** Runs the CLI in-process and captures its output lines. */
export async function cli(argv: string[]): Promise<{ code: number; out: string[]; err: string[] }> {
  const out: string[] = [];
  const err: string[] = [];
  const code = await main(argv, { out: (l) => out.push(l), err: (l) => err.push(l) });
  return { code, out, err };
}

/** Runs the real `airssys` executable in a child process (exit codes, no stack traces). */
export function cliProcess(argv: string[], opts: { env?: NodeJS.ProcessEnv; timeoutMs?: number } = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [BIN, ...argv], { env: { ...process.env, AIRSSYS_FROM_SOURCE: '1', ...opts.env }, timeout: opts.timeoutMs ?? 60_000 }, (error, stdout, stderr) => {
      const code = error ? (typeof error.code === 'number' ? error.code : 1) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}
