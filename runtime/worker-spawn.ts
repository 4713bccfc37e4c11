import { spawn, type ChildProcess } from 'node:child_process';
import { createRequire } from 'node:module';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';

/**
 * Starts a worker thread on one of our own entry modules, given as a URL next to the caller.
 * Compiled (dist/), the entry is plain JS. From source (tsx, vitest), the worker registers tsx's
 * loader itself before importing the TypeScript entry: loader flags in a worker's execArgv are not
 * honoured by Node 20. A failure to boot is posted as `{ type: 'failed', message }`.
 */
export function spawnOwnWorker(callerUrl: string, entryBase: string, workerData: unknown): Worker {
  if (callerUrl.endsWith('.js')) return new Worker(new URL(`./${entryBase}.js`, callerUrl), { workerData });
  const entry = new URL(`./${entryBase}.ts`, callerUrl).href;
  const tsxApi = pathToFileURL(createRequire(callerUrl).resolve('tsx/esm/api').replace(/index\.cjs$/, 'index.mjs')).href;
  const boot = `import(${JSON.stringify(tsxApi)})
    .then((tsx) => { tsx.register(); return import(${JSON.stringify(entry)}); })
    .catch((err) => import('node:worker_threads').then((wt) => wt.parentPort.postMessage({ type: 'failed', message: String((err && err.stack) || err) })));`;
  return new Worker(boot, { eval: true, workerData });
}

export interface OwnProcessOptions {
  /** Node flags of the child (e.g. a small young generation); the parent's flags are not passed on. */
  nodeFlags?: string[];
}

/**
 * Starts a child Node process on one of our own entry modules, with an IPC channel that carries
 * structured-clone messages (`serialization: 'advanced'`, so typed arrays cross as bytes, not JSON).
 * Compiled, the entry is plain JS; from source, tsx's loader is given with `--import` (unlike a
 * worker thread, a process honours it). The child's memory is the operating system's again the
 * moment it exits, which no worker thread can promise (glibc keeps a thread's freed arenas).
 */
export function spawnOwnProcess(callerUrl: string, entryBase: string, opts: OwnProcessOptions = {}): ChildProcess {
  const flags = [...(opts.nodeFlags ?? [])];
  let entry: string;
  if (callerUrl.endsWith('.js')) {
    entry = fileURLToPath(new URL(`./${entryBase}.js`, callerUrl));
  } else {
    entry = fileURLToPath(new URL(`./${entryBase}.ts`, callerUrl));
    flags.push('--import', pathToFileURL(createRequire(callerUrl).resolve('tsx')).href);
  }
  return spawn(process.execPath, [...flags, entry], {
    // stdout is not ours to write to (the CLI's output); stderr goes where the gateway's goes.
    stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
    serialization: 'advanced',
    // NODE_OPTIONS of the parent would repeat its flags (and a --require/--import of a preload).
    env: withoutNodeOptions(process.env),
  });
}

function withoutNodeOptions(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const copy = { ...env };
  delete copy.NODE_OPTIONS;
  return copy;
}
