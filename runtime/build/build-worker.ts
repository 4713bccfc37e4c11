import type { Worker } from 'node:worker_threads';
import { GatewayError } from '../errors.js';
import { spawnOwnWorker } from '../worker-spawn.js';
import type { Builder, BuildOptions, BuiltArtifacts } from './artifacts.js';
import type { BuildReply, BuildRequest } from './build-worker-main.js';

/**
 * Runs cold builds (jco transpile, glue hardening, instrumentation) on a worker thread, so the
 * gateway's event loop keeps its ticks while an OTA release is prepared, and jco's memory (~150 MB)
 * is returned when the worker ends. The worker starts on first use (or on `warm()`), and ends after
 * `idleMs` without work.
 */
export interface BuildWorkerOptions {
  /** End the worker after this long without a build (default 60 s). */
  idleMs?: number;
}

export class BuildWorker implements Builder {
  private worker: Worker | undefined;
  private ready: Promise<void> | undefined;
  private nextId = 1;
  private readonly pending = new Map<number, { resolve: (r: BuiltArtifacts) => void; reject: (e: Error) => void }>();
  private idleTimer: NodeJS.Timeout | undefined;
  private readonly idleMs: number;

  constructor(opts: BuildWorkerOptions = {}) {
    this.idleMs = opts.idleMs ?? 60_000;
  }

  /** Starts the worker and has it load jco now, so the first OTA does not wait for either. */
  async warm(): Promise<void> {
    await this.start();
    await new Promise<void>((resolve) => {
      const w = this.worker!;
      const on = (m: BuildReply) => {
        if (m.type === 'warmed') {
          w.off('message', on);
          resolve();
        }
      };
      w.on('message', on);
      w.postMessage({ type: 'warm' } satisfies BuildRequest);
    });
    this.armIdle();
  }

  async build(bytes: Uint8Array, opts: BuildOptions): Promise<BuiltArtifacts> {
    await this.start();
    if (this.idleTimer) clearTimeout(this.idleTimer);
    const id = this.nextId++;
    const copy = bytes.slice();
    return new Promise<BuiltArtifacts>((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.worker!.postMessage({ type: 'build', id, bytes: copy, opts } satisfies BuildRequest, [copy.buffer]);
    }).finally(() => this.armIdle());
  }

  async close(): Promise<void> {
    if (this.idleTimer) clearTimeout(this.idleTimer);
    const w = this.worker;
    this.worker = undefined;
    this.ready = undefined;
    if (w) await w.terminate();
  }

  private armIdle(): void {
    if (this.idleTimer) clearTimeout(this.idleTimer);
    if (this.pending.size > 0) return;
    this.idleTimer = setTimeout(() => void this.close(), this.idleMs);
    this.idleTimer.unref?.();
  }

  private start(): Promise<void> {
    if (this.ready) return this.ready;
    const worker = spawnOwnWorker(import.meta.url, 'build-worker-main', null);
    worker.unref();
    this.worker = worker;
    this.ready = new Promise<void>((resolve, reject) => {
      worker.on('message', (m: BuildReply) => {
        if (m.type === 'ready') resolve();
        else if (m.type === 'failed') reject(new GatewayError('BUILD_WORKER_FAILED', `the build worker did not start: ${m.message.split('\n')[0]}`));
        else if (m.type === 'built' || m.type === 'error') {
          const p = this.pending.get(m.id);
          this.pending.delete(m.id);
          if (!p) return;
          if (m.type === 'built') p.resolve(m.result);
          else p.reject(new GatewayError(m.code, m.message));
        }
      });
      worker.on('error', (err) => this.failAll(err));
      worker.on('exit', (code) => {
        if (this.worker === worker) {
          this.worker = undefined;
          this.ready = undefined;
        }
        if (this.pending.size) this.failAll(new Error(`the build worker exited (code ${code})`));
        reject(new Error(`the build worker exited (code ${code})`));
      });
    });
    return this.ready;
  }

  private failAll(err: Error): void {
    for (const p of this.pending.values()) p.reject(new GatewayError('BUILD_WORKER_FAILED', `component build failed in the worker: ${err.message}`));
    this.pending.clear();
  }
}
