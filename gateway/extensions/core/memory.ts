import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import type { OtaStatus } from '../../ota/updater.js';
import type { Extension, ExtensionContext } from '../extension.js';

/**
 * Gives a replaced component version's memory back soon after it is gone, instead of whenever V8
 * next decides to run a full collection.
 *
 * Why: a version that an OTA replaced (or that a rollback or removal dropped) leaves its compiled
 * modules, glue closures and linear memory (up to its `limits.memory-mb`) unreachable but resident.
 * V8 frees them only at its next major GC, and a gateway that allocates little (a few samples a
 * second) may not run one for a long time: meanwhile the heap grows towards its next limit, and RSS
 * climbs by about a megabyte per OTA (the soak bench, docs/hardening.md). On a 512 MB Pi that looks
 * like a leak and behaves like one until the collection comes. So after each swap settles, the
 * gateway runs one full collection itself.
 *
 * When: `delayMs` after a component's OTA is committed or rolled back, or a component is removed
 * (the delay lets the event in hand finish and the retired instance's last references go), and at
 * most once per `minIntervalMs` (requests in between are folded into one): junk envelopes or a
 * crash-looping rollout cannot turn it into a GC loop. A full collection of the gateway's ~15 MB
 * heap blocks the event loop for ~10-30 ms on x86-64 (more on a Pi); once per OTA at most, events
 * wait in their mailboxes meanwhile (none is lost).
 *
 * Deviation from plain Node: the collection is V8's `gc()`, which Node exposes only with
 * `--expose-gc`. The flag is set at run time (`v8.setFlagsFromString`) and the function taken from
 * a fresh context: the process's own global object never gets a `gc` (components are WebAssembly and
 * never see JavaScript globals anyway).
 */
export interface MemoryExtensionOptions {
  /** After the request that triggers it (default 2 s). */
  delayMs?: number;
  /** At most one collection per this interval (default 60 s). */
  minIntervalMs?: number;
  /** The collection (default: V8's full GC, see above). Tests count calls through it. */
  collect?: () => void;
  /** Called after each collection with what it gave back (tests, debug logs). */
  onCollected?: (result: ReclaimResult) => void;
}

export interface ReclaimResult {
  reason: string;
  rssBefore: number;
  rssAfter: number;
  heapUsedBefore: number;
  heapUsedAfter: number;
  ms: number;
}

export interface MemoryStats {
  rssBytes: number;
  heapUsedBytes: number;
  /** Full collections run after replaced versions (see the module comment). */
  collections: number;
  lastCollection?: { reason: string; at: string; rssBefore: number; rssAfter: number; ms: number };
}

let fullGc: (() => void) | undefined;

/** V8's full, synchronous collection (see the module comment). */
export function fullCollection(): () => void {
  if (!fullGc) {
    setFlagsFromString('--expose-gc');
    fullGc = runInNewContext('gc') as () => void;
  }
  return fullGc;
}

export class MemoryExtension implements Extension {
  readonly name = 'memory';
  private readonly delayMs: number;
  private readonly minIntervalMs: number;
  private readonly collect: () => void;
  private timer: NodeJS.Timeout | undefined;
  private last = -Infinity;
  private reasons: string[] = [];
  private log: ExtensionContext['log'] | undefined;
  private stopped = false;
  private collections = 0;
  private lastCollection: MemoryStats['lastCollection'];

  constructor(private readonly opts: MemoryExtensionOptions = {}) {
    this.delayMs = opts.delayMs ?? 2_000;
    this.minIntervalMs = opts.minIntervalMs ?? 60_000;
    // Taken at the first collection: the context that provides it costs ~150 KB, which a gateway
    // that never replaces a version need not pay.
    this.collect = opts.collect ?? (() => fullCollection()());
  }

  async start(ctx: ExtensionContext): Promise<void> {
    this.log = ctx.log;
    ctx.events.on('ota', (component: string, status: OtaStatus) => {
      if (status.phase === 'committed' || status.phase === 'rolled-back') this.request(`${component} ${status.version} ${status.phase}`);
    });
    ctx.events.on('removed', (component: string) => this.request(`${component} removed`));
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
  }

  /** For health: the process's memory now, and the collections this extension ran. */
  stats(): MemoryStats {
    const m = process.memoryUsage();
    return {
      rssBytes: m.rss,
      heapUsedBytes: m.heapUsed,
      collections: this.collections,
      ...(this.lastCollection ? { lastCollection: this.lastCollection } : {}),
    };
  }

  /** Asks for one collection: `delayMs` from now, or when `minIntervalMs` since the last has passed. */
  request(reason: string): void {
    if (this.stopped) return;
    this.reasons.push(reason);
    if (this.timer) return;
    // Monotonic: a Pi without a real-time clock may step its wall clock back by hours at boot.
    const wait = Math.max(this.delayMs, this.last + this.minIntervalMs - performance.now());
    this.timer = setTimeout(() => this.run(), wait);
    // Never what keeps the process alive.
    this.timer.unref();
  }

  private run(): void {
    this.timer = undefined;
    const reason = this.reasons.splice(0).join(', ');
    const before = process.memoryUsage();
    const t0 = performance.now();
    this.collect();
    this.last = performance.now();
    this.collections++;
    const after = process.memoryUsage();
    const result: ReclaimResult = { reason, rssBefore: before.rss, rssAfter: after.rss, heapUsedBefore: before.heapUsed, heapUsedAfter: after.heapUsed, ms: this.last - t0 };
    this.lastCollection = { reason, at: new Date().toISOString(), rssBefore: result.rssBefore, rssAfter: result.rssAfter, ms: Math.round(result.ms * 10) / 10 };
    this.log?.debug(result, 'memory: full collection after a version was replaced');
    this.opts.onCollected?.(result);
  }
}
