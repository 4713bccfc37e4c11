import type { Worker } from 'node:worker_threads';
import { GatewayError } from '../errors.js';
import { spawnOwnWorker } from '../worker-spawn.js';
import type { Builder, BuildOptions, BuiltArtifacts } from './artifacts.js';
import type { BuildReply, BuildRequest } from './build-worker-main.js';
import { isErrorCode } from '../error-codes.js';

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
  // Builds and warm-ups alike wait here, so a worker that dies fails every one of them.
  private readonly pending = new Map<number, { resolve: (r: BuiltArtifacts | undefined) => void; reject: (e: Error) => void }>();
  private idleTimer: NodeJS.Timeout | undefined;
  private readonly idleMs: number;

  constructor(opts: BuildWorkerOptions = {}) {
    this.idleMs = opts.idleMs ?? 60_000;
  }

  /** Starts the worker and has it load jco now, so the first OTA does not wait for either. */
  async warm(): Promise<void> {
    await this.request((id) => ({ type: 'warm', id }));
  }

  async build(bytes: Uint8Array, opts: BuildOptions): Promise<BuiltArtifacts> {
    const copy = bytes.slice();
    return (await this.request((id) => ({ type: 'build', id, bytes: copy, opts }), [copy.buffer]))!;
  }

  private async request(make: (id: number) => BuildRequest, transfer: ArrayBuffer[] = []): Promise<BuiltArtifacts | undefined> {
    await this.start();
    if (this.idleTimer) clearTimeout(this.idleTimer);
    const id = this.nextId++;
    return new Promise<BuiltArtifacts | undefined>((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.worker!.postMessage(make(id), transfer);
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
        else if (m.type === 'built' || m.type === 'error' || m.type === 'warmed') {
          const p = this.pending.get(m.id);
          this.pending.delete(m.id);
          if (!p) return;
          if (m.type === 'error') p.reject(new GatewayError(isErrorCode(m.code) ? m.code : 'BUILD_FAILED', m.message));
          else p.resolve(m.type === 'built' ? m.result : undefined);
        }
      });
      worker.on('error', (err) => this.failAll(err));
      worker.on('exit', (code) => {
        if (this.worker === worker) {
          this.worker = undefined;
          this.ready = undefined;
        }
        const exited = new GatewayError('BUILD_WORKER_FAILED', `the component build worker exited (code ${code}); check free memory and try again`);
        if (this.pending.size) this.failAll(exited);
        reject(exited);
      });
    });
    return this.ready;
  }

  private failAll(err: Error): void {
    for (const p of this.pending.values()) p.reject(err instanceof GatewayError ? err : new GatewayError('BUILD_WORKER_FAILED', `component build failed in the worker: ${err.message.split('\n')[0]}; check free memory and try again`));
    this.pending.clear();
  }
}
