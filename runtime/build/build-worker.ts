import type { ChildProcess } from 'node:child_process';
import { GatewayError } from '../errors.js';
import { spawnOwnProcess } from '../worker-spawn.js';
import type { Builder, BuildOptions, BuiltArtifacts } from './artifacts.js';
import type { BuildReply, BuildRequest } from './build-worker-main.js';
import { isErrorCode } from '../error-codes.js';

/**
 * Runs cold builds (jco transpile, glue hardening, instrumentation) in a short-lived child
 * process, so the gateway's event loop keeps its ticks while an OTA release is prepared, and so
 * jco's memory never becomes the gateway's. A build costs ~80 MB (jco's Wasm compiled, V8
 * compilation zones, the bindgen's memory); in a worker thread glibc kept ~45 MB of that in the
 * gateway for good, after every cold OTA. A process gives all of it back when it exits
 * (docs/memory.md). The gateway gets the artifacts over IPC and writes the cache entry itself.
 *
 * The process starts on first use (or on `warm()`) and ends after `idleMs` without work; it also
 * ends by itself when the gateway goes away (the IPC channel closes), even after a SIGKILL.
 */
export interface BuildWorkerOptions {
  /** End the process after this long without a build (default 60 s). */
  idleMs?: number;
  /**
   * Node flags of the build process. The default keeps its young generation and V8's helper
   * threads as small as the gateway's (the Pi service unit's flags), and runs jco's Wasm on
   * Liftoff only: no TurboFan compilation zones (~20 MB less at the peak) and a faster first
   * build, for builds that last a few hundred ms. Harmless here, where in the gateway it would
   * slow the components (the flag is process-wide); the artifacts are the same bytes either way.
   */
  nodeFlags?: string[];
}

export const BUILD_PROCESS_FLAGS = ['--max-semi-space-size=1', '--v8-pool-size=1', '--liftoff-only'];

export class BuildWorker implements Builder {
  private child: ChildProcess | undefined;
  private ready: Promise<void> | undefined;
  private nextId = 1;
  // Builds and warm-ups alike wait here, with the process they were sent to: a process that dies
  // fails every one of its own, and none sent to the process that replaced it (a build that comes
  // while an idle process is being closed goes to a new one, and the old one's exit is not its end).
  private readonly pending = new Map<number, { resolve: (r: BuiltArtifacts | undefined) => void; reject: (e: Error) => void; child?: ChildProcess }>();
  private idleTimer: NodeJS.Timeout | undefined;
  private readonly idleMs: number;
  private readonly nodeFlags: string[];

  constructor(opts: BuildWorkerOptions = {}) {
    this.idleMs = opts.idleMs ?? 60_000;
    this.nodeFlags = opts.nodeFlags ?? BUILD_PROCESS_FLAGS;
  }

  /** The build process's PID while it runs (benchmarks read its memory). */
  get pid(): number | undefined {
    return this.child?.pid;
  }

  /** Starts the process and has it load jco now, so the first OTA does not wait for either. */
  async warm(): Promise<void> {
    await this.request((id) => ({ type: 'warm', id }));
  }

  async build(bytes: Uint8Array, opts: BuildOptions): Promise<BuiltArtifacts> {
    return (await this.request((id) => ({ type: 'build', id, bytes, opts })))!;
  }

  private async request(make: (id: number) => BuildRequest): Promise<BuiltArtifacts | undefined> {
    if (this.idleTimer) clearTimeout(this.idleTimer);
    const id = this.nextId++;
    // Registered before the start, so a process that fails to start fails this request too.
    const reply = new Promise<BuiltArtifacts | undefined>((resolve, reject) => this.pending.set(id, { resolve, reject }));
    try {
      await this.start();
      if (!this.child) throw new GatewayError('BUILD_WORKER_FAILED', 'the component build process was closed before the build was sent; try again');
      const entry = this.pending.get(id);
      if (entry) entry.child = this.child;
      this.holdOpen();
      this.child.send(make(id), (err) => {
        if (err) this.settle(id, new GatewayError('BUILD_WORKER_FAILED', `could not send the build to the build process: ${err.message}; check free memory and try again`));
      });
    } catch (err) {
      this.settle(id, err as Error);
    }
    return reply.finally(() => this.armIdle());
  }

  async close(): Promise<void> {
    if (this.idleTimer) clearTimeout(this.idleTimer);
    const child = this.child;
    this.child = undefined;
    this.ready = undefined;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((r) => child.once('exit', r));
    // The idle process is unref'd: awaited here, it must hold the event loop until it is gone, or a
    // gateway stopping on an error (after a cold build) ends with exit code 0 before saying why.
    child.ref();
    child.kill('SIGTERM');
    await exited;
  }

  /** While a request is pending the channel keeps this process alive (an awaited build must not be dropped by an empty event loop); idle, it does not. */
  private holdOpen(): void {
    const channel = this.child?.channel;
    if (!channel) return;
    if (this.pending.size > 0) channel.ref();
    else channel.unref();
  }

  private armIdle(): void {
    if (this.idleTimer) clearTimeout(this.idleTimer);
    this.holdOpen();
    if (this.pending.size > 0) return;
    this.idleTimer = setTimeout(() => void this.close(), this.idleMs);
    this.idleTimer.unref?.();
  }

  private settle(id: number, result: Error | BuiltArtifacts | undefined): void {
    const p = this.pending.get(id);
    if (!p) return;
    this.pending.delete(id);
    if (result instanceof Error) p.reject(result);
    else p.resolve(result);
  }

  private start(): Promise<void> {
    if (this.ready) return this.ready;
    const child = spawnOwnProcess(import.meta.url, 'build-worker-main', { nodeFlags: this.nodeFlags });
    // An idle build process never keeps the gateway alive (see holdOpen for a pending one).
    child.unref();
    this.child = child;
    this.holdOpen();
    this.ready = new Promise<void>((resolve, reject) => {
      child.on('message', (m: BuildReply) => {
        if (m.type === 'ready') resolve();
        else if (m.type === 'error') this.settle(m.id, new GatewayError(isErrorCode(m.code) ? m.code : 'BUILD_FAILED', m.message));
        else this.settle(m.id, m.type === 'built' ? m.result : undefined);
      });
      child.on('error', (err) => {
        const failed = new GatewayError('BUILD_WORKER_FAILED', `the component build process did not start: ${err.message.split('\n')[0]}; check free memory and try again`);
        this.failSentTo(child, failed);
        reject(failed);
      });
      child.on('exit', (code, signal) => {
        if (this.child === child) {
          this.child = undefined;
          this.ready = undefined;
        }
        const how = signal ? `was killed by ${signal}` : `exited (code ${code})`;
        const exited = new GatewayError('BUILD_WORKER_FAILED', `the component build process ${how}; check free memory and try again`);
        this.failSentTo(child, exited);
        // Requests still waiting for this process to start fail through `ready`.
        reject(exited);
      });
    });
    return this.ready;
  }

  private failSentTo(child: ChildProcess, err: GatewayError): void {
    for (const [id, p] of this.pending) {
      if (p.child !== child) continue;
      this.pending.delete(id);
      p.reject(err);
    }
  }
}
