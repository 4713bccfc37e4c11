import type { Worker } from 'node:worker_threads';
import { spawnOwnWorker } from '../worker-spawn.js';
import type { WorkerSource } from '../engine.js';
import { GatewayError, type FailureKind } from '../errors.js';
import type { HostApi } from '../host-api.js';
import type { CallOutcome } from '../instance.js';
import type { WorldExport } from '../world.js';
import { HostCallServer } from './host-proxy.js';
import { createChannel, DEFAULT_CHANNEL_BYTES } from './protocol.js';
import type { FromWorker, ToWorker, WorkerInit } from './worker-main.js';

/**
 * One component instance in its own worker thread (`isolation: worker`). The main thread never
 * blocks on it: `callAsync` posts the event and awaits the outcome, serving the guest's host calls
 * in between (they are synchronous for the guest, see host-proxy.ts). What the worker buys over
 * inline: a wall-clock deadline that really stops the event. When it passes, the worker is
 * terminated (V8 stops even a tight Wasm loop) and the outcome is `deadline`; like any crash, the
 * instance is then discarded and the supervisor starts a fresh one.
 */
export interface WorkerInstanceOptions {
  /** Fuel per event (limits.fuel), metered inside the worker exactly as inline. */
  fuel: number;
  /** Wall-clock deadline per event (limits.deadline-ms). */
  deadlineMs: number;
  /** Bytes of the host-call channel; host-call arguments larger than this are refused with `invalid`. */
  channelBytes?: number;
  /** How long the worker may take to boot and instantiate (its start function included). */
  startTimeoutMs?: number;
  /** Called on the main thread before each proxied host call (attribution, counters). */
  onHostCall?: () => void;
}

export const DEFAULT_START_TIMEOUT_MS = 30_000;

interface Pending {
  id: number;
  event: WorldExport;
  started: number;
  timer: NodeJS.Timeout;
  resolve: (o: CallOutcome) => void;
}

export class WorkerInstance {
  private pending: Pending | undefined;
  private inflight: Promise<CallOutcome> | undefined;
  private seq = 0;
  private crashed: { kind: FailureKind; message: string } | undefined;
  private exited = false;
  private lastMemory = 0;

  private constructor(
    private readonly worker: Worker,
    private readonly server: HostCallServer,
    private readonly opts: WorkerInstanceOptions,
  ) {
    worker.on('message', (m: FromWorker) => {
      if (m.type === 'outcome') this.settle(m);
    });
    worker.on('error', (err) => this.lost(`worker failed: ${err.message}`));
    worker.on('exit', (code) => {
      this.exited = true;
      this.server.close();
      this.lost(`worker exited with code ${code}`);
    });
  }

  /** Boots a worker, instantiates the component in it; throws GatewayError INSTANTIATE_FAILED. */
  static async start(source: WorkerSource, api: HostApi, opts: WorkerInstanceOptions): Promise<WorkerInstance> {
    const channel = createChannel(opts.channelBytes ?? DEFAULT_CHANNEL_BYTES);
    // Serving starts before the worker exists: a start function may already call the host.
    const server = new HostCallServer(channel, api, opts.onHostCall);
    const init: WorkerInit = { glue: source.glue, modules: source.modules, channel, fuel: opts.fuel, timed: true };
    const worker = spawn(init);
    // An idle worker must not keep the process alive; a pending event holds its deadline timer.
    worker.unref();
    const limit = opts.startTimeoutMs ?? DEFAULT_START_TIMEOUT_MS;
    const failed = (message: string) => {
      server.close();
      void worker.terminate();
      return new GatewayError('INSTANTIATE_FAILED', `component failed to instantiate in its worker: ${message}; check the component's start code and memory limit`);
    };
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        done();
        reject(failed(`not ready after ${limit} ms`));
      }, limit);
      const onMessage = (m: FromWorker) => {
        done();
        if (m.type === 'ready') resolve();
        else reject(failed(m.type === 'failed' ? m.message : 'unexpected first message'));
      };
      const onError = (err: Error) => {
        done();
        reject(failed(err.message));
      };
      const onExit = (code: number) => {
        done();
        reject(failed(`worker exited with code ${code}`));
      };
      const done = () => {
        clearTimeout(timer);
        worker.off('message', onMessage).off('error', onError).off('exit', onExit);
      };
      worker.on('message', onMessage).on('error', onError).on('exit', onExit);
    });
    return new WorkerInstance(worker, server, opts);
  }

  get isCrashed(): boolean {
    return this.crashed !== undefined;
  }

  /** Linear memory bytes as of the last event (the memories live in the worker). */
  memoryBytes(): number {
    return this.lastMemory;
  }

  /** Host calls served for this instance. */
  get hostCalls(): number {
    return this.server.calls;
  }

  /** Delivers one event. Never rejects: every failure, the deadline included, is an outcome. */
  callAsync(event: WorldExport, args: unknown[] = []): Promise<CallOutcome> {
    if (this.crashed) {
      return Promise.resolve({ ok: false, kind: this.crashed.kind, message: `instance was discarded after ${this.crashed.kind}: ${this.crashed.message}`, fuelUsed: 0, durationMs: 0 });
    }
    if (this.pending) return Promise.resolve({ ok: false, kind: 'trap', message: `event ${event} delivered while ${this.pending.event} is still running`, fuelUsed: 0, durationMs: 0 });
    const id = ++this.seq;
    const inflight = new Promise<CallOutcome>((resolve) => {
      const timer = setTimeout(() => void this.expire(), this.opts.deadlineMs);
      this.pending = { id, event, started: performance.now(), timer, resolve };
      const msg: ToWorker = { id, event, args };
      this.worker.postMessage(msg);
    });
    this.inflight = inflight;
    return inflight;
  }

  /** Ends the worker after the event in hand (a version swap must not cut an event short). */
  async retire(): Promise<void> {
    await this.inflight;
    await this.terminate();
  }

  /** Ends the worker (stop, replace, shutdown). A pending event resolves as a trap. */
  async terminate(): Promise<void> {
    this.crashed ??= { kind: 'trap', message: 'instance was stopped' };
    this.server.close();
    if (!this.exited) await this.worker.terminate();
  }

  private settle(m: Extract<FromWorker, { type: 'outcome' }>): void {
    const p = this.pending;
    if (!p || p.id !== m.id) return;
    this.pending = undefined;
    clearTimeout(p.timer);
    this.lastMemory = m.memoryBytes;
    if (m.crashed && !m.outcome.ok) {
      this.crashed = { kind: m.outcome.kind, message: m.outcome.message };
      // The instance is discarded: free its thread now rather than at the next start.
      void this.terminate();
    }
    p.resolve(m.outcome);
  }

  private async expire(): Promise<void> {
    const p = this.pending;
    if (!p) return;
    this.pending = undefined;
    const message = `event ${p.event} ran past its deadline of ${this.opts.deadlineMs} ms; the worker was terminated`;
    this.crashed = { kind: 'deadline', message };
    // Resolve once the thread is gone, so a restart never runs beside the runaway it replaces.
    await this.terminate();
    // Fuel used is unknown: the counter died with the worker.
    p.resolve({ ok: false, kind: 'deadline', message, fuelUsed: 0, durationMs: performance.now() - p.started });
  }

  /** The worker died on its own (an uncaught error, an out-of-memory abort). */
  private lost(message: string): void {
    this.crashed ??= { kind: 'trap', message };
    const p = this.pending;
    if (!p) return;
    this.pending = undefined;
    clearTimeout(p.timer);
    p.resolve({ ok: false, kind: 'trap', message, fuelUsed: 0, durationMs: performance.now() - p.started });
  }
}

/** Starts the worker entry (compiled JS, or TypeScript through tsx): see runtime/worker-spawn.ts. */
function spawn(init: WorkerInit): Worker {
  return spawnOwnWorker(import.meta.url, 'worker-main', init);
}
