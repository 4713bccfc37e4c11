import { createRequire } from 'node:module';
import { pathToFileURL } from 'node:url';
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
