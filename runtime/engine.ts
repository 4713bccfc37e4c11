import { ArtifactCache, sha256Hex, type CachedArtifacts } from './cache.js';
import { GatewayError } from './errors.js';
import type { HostApi } from './host-api.js';
import { ComponentInstance, type InstanceOptions } from './instance.js';
import { inlineBuilder, type Builder } from './build/artifacts.js';
import { Linker } from './linker.js';
import { chargeHostCalls } from './metering/host-charge.js';
import { requireComponent } from './wasm-header.js';
import { oneLine } from './build/component.js';
import { GLUE_HARDENING_VERSION } from './glue-hardening.js';
import { importGlue, type GlueModule } from './glue-module.js';

/**
 * The engine turns component bytes into a PreparedComponent: checked against the world, transpiled
 * by jco into glue JS plus core modules, the core modules instrumented (fuel, memory cap) and
 * compiled. Everything but the compile is cached on disk (see cache.ts), so a warm prepare reads a
 * few files, compiles and imports the glue, and never loads jco.
 *
 * jco is pinned to 1.11.2 on purpose: its glue costs ~30 ns per scalar export call where 1.13+
 * costs 2-4 µs (docs/runtime.md has the measurement).
 */
export const JCO_VERSION = '1.11.2';
/** Bump when instrumentation changes what it writes: old cache entries then stop matching. */
export const INSTRUMENT_VERSION = 3;

export interface EngineOptions {
  /** Where load artifacts are cached (normally `<data-dir>/cache`). */
  cacheDir: string;
  /** Skip fuel and memory instrumentation. For benchmarks that measure what metering costs. */
  instrument?: boolean;
  linker?: Linker;
  /** Where cold builds run: inline (default) or a BuildWorker, which keeps the event loop free. */
  builder?: Builder;
}

export interface PrepareOptions {
  /** limits.memory-mb: the cap written into the component's memories. */
  memoryMb: number;
}


export class Engine {
  readonly cache: ArtifactCache;
  readonly linker: Linker;
  private readonly instrument: boolean;
  private readonly builder: Builder;

  constructor(opts: EngineOptions) {
    this.cache = new ArtifactCache(opts.cacheDir);
    this.instrument = opts.instrument ?? true;
    this.linker = opts.linker ?? new Linker();
    this.builder = opts.builder ?? inlineBuilder;
  }

  cacheKey(sha256: string, opts: PrepareOptions): string {
    const instr = this.instrument ? `i${INSTRUMENT_VERSION}-m${opts.memoryMb}` : 'raw';
    return `${sha256}-jco${JCO_VERSION}-g${GLUE_HARDENING_VERSION}-${instr}`;
  }

  /**
   * Removes cache entries this engine can never use (other jco / glue / instrumenter versions, torn
   * writes), then the oldest beyond `maxEntries`, sparing the keys in `inUse`.
   */
  prune(opts: { inUse?: ReadonlySet<string>; maxEntries?: number } = {}): Promise<number> {
    const current = new RegExp(`^[0-9a-f]{64}-jco${JCO_VERSION.replace(/\./g, '\\.')}-g${GLUE_HARDENING_VERSION}-(i${INSTRUMENT_VERSION}-m\\d+|raw)$`);
    return this.cache.prune({ isCurrent: (key) => current.test(key), ...opts });
  }

  /** Load a component: from the cache when warm, else check, transpile, instrument and cache it. */
  async prepare(bytes: Uint8Array, opts: PrepareOptions): Promise<PreparedComponent> {
    const started = performance.now();
    requireComponent(bytes);
    const sha256 = sha256Hex(bytes);
    const key = this.cacheKey(sha256, opts);
    let artifacts = await this.cache.read(key);
    const fromCache = artifacts !== undefined;
    artifacts ??= await this.build(bytes, sha256, key, opts);
    const prepared = await this.load(artifacts, bytes.length, fromCache);
    prepared.loadMs = performance.now() - started;
    return prepared;
  }



  private async build(bytes: Uint8Array, sha256: string, key: string, opts: PrepareOptions): Promise<CachedArtifacts> {
    const built = await this.builder.build(bytes, { memoryMb: opts.memoryMb, instrument: this.instrument });
    return this.cache.write(key, built.glue, built.cores, { componentSha256: sha256, jcoVersion: JCO_VERSION, imports: built.imports, exports: built.exports });
  }

  private async load(artifacts: CachedArtifacts, size: number, fromCache: boolean): Promise<PreparedComponent> {
    const modules = new Map<string, WebAssembly.Module>();
    await Promise.all(
      [...artifacts.cores].map(async ([name, bytes]) => {
        modules.set(name, await WebAssembly.compile(bytes as Uint8Array<ArrayBuffer>));
      }),
    );
    const glue = await importGlue(artifacts.glue);
    return new PreparedComponent(
      this.linker,
      glue,
      modules,
      {
        sha256: artifacts.meta.componentSha256,
        size,
        imports: artifacts.meta.imports,
        exports: artifacts.meta.exports,
        fromCache,
      },
      artifacts.glue,
    );
  }
}

export interface ComponentInfo {
  sha256: string;
  size: number;
  imports: string[];
  exports: string[];
  fromCache: boolean;
}

export interface WorkerSource {
  glue: string;
  modules: [string, WebAssembly.Module][];
}

/** A component ready to instantiate any number of times (Wasmtime's InstancePre). */
export class PreparedComponent {
  loadMs = 0;
  constructor(
    private readonly linker: Linker,
    private readonly glue: GlueModule,
    private readonly modules: Map<string, WebAssembly.Module>,
    readonly info: ComponentInfo,
    private readonly glueSource: string,
  ) {}

  /**
   * What a worker needs to instantiate this component itself (runtime/worker): the glue text
   * exactly as the cache verified it, and the compiled core modules, which structured clone
   * shares with a worker of this process without compiling them again.
   */
  workerSource(): WorkerSource {
    return { glue: this.glueSource, modules: [...this.modules] };
  }

  /** Instantiates synchronously; throws GatewayError INSTANTIATE_FAILED if a start function traps. */
  instantiate(api: HostApi, opts: InstanceOptions): ComponentInstance {
    return new ComponentInstance((instantiateCore, charge) => {
      try {
        return this.glue.instantiate((name) => this.modules.get(name)!, chargeHostCalls(this.linker.bind(api), charge), instantiateCore);
      } catch (err) {
        throw new GatewayError('INSTANTIATE_FAILED', `component failed to instantiate: ${oneLine(err)}; check the component's start code and memory limit`);
      }
    }, opts);
  }
}
