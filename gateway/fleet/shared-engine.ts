import { Engine, type EngineOptions, type PrepareOptions, type PreparedComponent } from '../../runtime/engine.js';
import { sha256Hex } from '../../runtime/cache.js';

/**
 * One Engine for many gateways in one process (`airssys fleet-sim`). A PreparedComponent is
 * instantiable any number of times, so when 1,000 simulated gateways receive the same release they
 * share one prepare — one cache read, one compile of each core module — instead of 1,000. A prepare
 * that failed is forgotten, so the next gateway tries again (and reports its own reason).
 */
export class SharedEngine extends Engine {
  private readonly prepared = new Map<string, Promise<PreparedComponent>>();

  constructor(opts: EngineOptions) {
    super(opts);
  }

  override prepare(bytes: Uint8Array, opts: PrepareOptions): Promise<PreparedComponent> {
    const key = this.cacheKey(sha256Hex(bytes), opts);
    let p = this.prepared.get(key);
    if (!p) {
      p = super.prepare(bytes, opts);
      this.prepared.set(key, p);
      p.catch(() => this.prepared.delete(key));
    }
    return p;
  }
}
