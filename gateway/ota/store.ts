import { readdir, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { atomicWrite, ensureDir, removeTree, TMP_MARK, type StepHook } from './durable.js';
import type { ReleaseManifest } from './envelope.js';
import { compareSemver, isSemver } from './semver.js';

/**
 * The durable OTA component store under the data dir:
 *
 *   components/<name>/<version>/component.wasm   the bytes, verified against the manifest's sha256
 *   components/<name>/<version>/manifest.json    the release manifest (what was signed)
 *   components/<name>/<version>/envelope.json    the envelope as received (signatures, for audit)
 *   components/<name>/state.json                 current + previous pointers, floor, pending marker
 *
 * The pointers and the floor live in ONE file so a single atomic rename moves them together:
 * "current = new, previous = old" can never be half-applied. Version directories are written
 * completely (each file atomically, directory fsynced) before state.json may reference them.
 *
 * Transitions: stage (files only) → activate (current = new, previous = old, `pending`) →
 * commit (floor = new, pending cleared) or roll back (current = previous). A startup that finds
 * `pending` set was interrupted mid-activation or mid-probation and rolls back: the gateway comes
 * back on the last committed version.
 */

export interface VersionRef {
  version: string;
  sha256: string;
  /** SHA-256 of the envelope bytes that delivered it (replay detection). */
  envelopeSha256?: string;
}

export interface ComponentState {
  /** Undefined: no OTA version installed; whatever the gateway config names runs. */
  current?: VersionRef;
  previous?: VersionRef;
  /** Highest version ever committed over OTA. */
  floor?: string;
  /** Set from activation until commit or rollback: current is not yet trusted. */
  pending?: { phase: 'activating' | 'probation'; prior?: VersionRef };
  /** Envelopes that were rolled back; they are not retried when seen again (retained replays). */
  rolledBack: string[];
}

export interface InstalledVersion extends VersionRef {
  component: string;
  dir: string;
  wasmPath: string;
  manifest: ReleaseManifest;
}

export interface StoreOptions {
  step?: StepHook;
}

export interface Recovery {
  component: string;
  /** The uncommitted version that was dropped. */
  reverted: VersionRef;
  /** Where it was when the gateway stopped. */
  phase: 'activating' | 'probation';
  /** What runs now (undefined: the configured source). */
  current?: VersionRef;
}

const ROLLED_BACK_KEEP = 32;

export class OtaStore {
  private readonly states = new Map<string, ComponentState>();

  private constructor(
    readonly dataDir: string,
    private readonly opts: StoreOptions,
  ) {}

  static async open(dataDir: string, opts: StoreOptions = {}): Promise<OtaStore> {
    const store = new OtaStore(dataDir, opts);
    await store.load();
    return store;
  }

  get root(): string {
    return join(this.dataDir, 'components');
  }

  componentDir(name: string): string {
    return join(this.root, name);
  }

  versionDir(name: string, version: string): string {
    return join(this.root, name, version);
  }

  /** Where partial downloads live (see chunks.ts). */
  get partialDir(): string {
    return join(this.dataDir, 'ota-partial');
  }

  private async load(): Promise<void> {
    let names: string[] = [];
    try {
      names = await readdir(this.root);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
    for (const name of names) {
      try {
        const raw = JSON.parse(await readFile(join(this.root, name, 'state.json'), 'utf8')) as ComponentState;
        this.states.set(name, { ...raw, rolledBack: raw.rolledBack ?? [] });
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      }
    }
  }

  components(): string[] {
    return [...this.states.keys()].sort();
  }

  state(name: string): ComponentState {
    const s = this.states.get(name);
    return s ? structuredClone(s) : { rolledBack: [] };
  }

  floor(name: string): string | undefined {
    return this.states.get(name)?.floor;
  }

  isRolledBack(name: string, envelopeSha256: string): boolean {
    return this.states.get(name)?.rolledBack.includes(envelopeSha256) ?? false;
  }

  private async writeState(name: string, next: ComponentState): Promise<void> {
    await atomicWrite(join(this.componentDir(name), 'state.json'), JSON.stringify(next, null, 1) + '\n', { step: this.opts.step });
    this.states.set(name, next);
  }

  /** Writes the version directory; nothing references it yet, so a crash here changes nothing visible. */
  async stage(manifest: ReleaseManifest, bytes: Uint8Array, envelope: Uint8Array): Promise<InstalledVersion> {
    const dir = this.versionDir(manifest.component, manifest.version);
    await ensureDir(dir, this.opts.step);
    await atomicWrite(join(dir, 'component.wasm'), bytes, { step: this.opts.step });
    await atomicWrite(join(dir, 'manifest.json'), JSON.stringify(manifest, null, 1) + '\n', { step: this.opts.step });
    await atomicWrite(join(dir, 'envelope.json'), envelope, { step: this.opts.step });
    return { component: manifest.component, version: manifest.version, sha256: manifest.sha256, dir, wasmPath: join(dir, 'component.wasm'), manifest };
  }

  /** current = ref (uncommitted), previous = old current. */
  async activate(name: string, ref: VersionRef): Promise<void> {
    const s = this.state(name);
    const next: ComponentState = { current: ref, rolledBack: s.rolledBack, pending: { phase: 'activating' } };
    if (s.current) next.previous = s.current;
    if (s.previous) next.pending = { phase: 'activating', prior: s.previous };
    if (s.floor) next.floor = s.floor;
    await this.writeState(name, next);
  }

  /** The new instance passed init: a restart from here on is reported as a crash in probation. */
  async startProbation(name: string): Promise<void> {
    const s = this.state(name);
    if (!s.pending) throw new Error(`${name} is not activating`);
    await this.writeState(name, { ...s, pending: { ...s.pending, phase: 'probation' } });
  }

  /** Current becomes permanent and the floor rises to it. */
  async commit(name: string): Promise<void> {
    const s = this.state(name);
    if (!s.current) throw new Error(`nothing to commit for ${name}`);
    const next: ComponentState = { current: s.current, rolledBack: s.rolledBack };
    if (s.previous) next.previous = s.previous;
    next.floor = s.floor && isSemver(s.floor) && compareSemver(s.floor, s.current.version) > 0 ? s.floor : s.current.version;
    await this.writeState(name, next);
    await this.gc(name);
  }

  /** current = previous. A rolled-back envelope is remembered so a retained replay does not retry it. */
  async rollback(name: string): Promise<VersionRef | undefined> {
    const s = this.state(name);
    const dropped = s.current;
    const next: ComponentState = { rolledBack: s.rolledBack };
    if (dropped?.envelopeSha256 && !next.rolledBack.includes(dropped.envelopeSha256)) {
      next.rolledBack = [...next.rolledBack, dropped.envelopeSha256].slice(-ROLLED_BACK_KEEP);
    }
    if (s.previous) next.current = s.previous;
    if (s.pending?.prior) next.previous = s.pending.prior;
    if (s.floor) next.floor = s.floor;
    await this.writeState(name, next);
    await this.gc(name);
    return dropped;
  }

  /** Remembers an envelope as failed for good without touching the pointers (init failed before any pointer moved). */
  async markRolledBack(name: string, envelopeSha256: string): Promise<void> {
    const s = this.state(name);
    if (s.rolledBack.includes(envelopeSha256)) return;
    await this.writeState(name, { ...s, rolledBack: [...s.rolledBack, envelopeSha256].slice(-ROLLED_BACK_KEEP) });
  }

  /** Startup: every component interrupted between activate and commit goes back to its last committed version. */
  async recover(): Promise<Recovery[]> {
    const out: Recovery[] = [];
    for (const name of this.components()) {
      const s = this.states.get(name)!;
      if (s.pending && s.current) {
        const reverted = s.current;
        const phase = s.pending.phase;
        await this.rollback(name);
        const r: Recovery = { component: name, reverted, phase };
        const cur = this.states.get(name)!.current;
        if (cur) r.current = cur;
        out.push(r);
      } else {
        await this.gc(name);
      }
    }
    return out;
  }

  /** What runs for a component: the current version's files, or undefined for the configured source. */
  async current(name: string): Promise<InstalledVersion | undefined> {
    const ref = this.states.get(name)?.current;
    if (!ref) return undefined;
    const dir = this.versionDir(name, ref.version);
    const manifest = JSON.parse(await readFile(join(dir, 'manifest.json'), 'utf8')) as ReleaseManifest;
    return { ...ref, component: name, dir, wasmPath: join(dir, 'component.wasm'), manifest };
  }

  async readBytes(v: InstalledVersion): Promise<Uint8Array> {
    return new Uint8Array(await readFile(v.wasmPath));
  }

  /** Removes version directories nothing points at (and stray temp files), keeping `keep` if given. */
  async gc(name: string, keep?: string): Promise<void> {
    const s = this.states.get(name);
    const live = new Set([s?.current?.version, s?.previous?.version, s?.pending?.prior?.version, keep].filter((v): v is string => !!v));
    let entries: string[];
    try {
      entries = await readdir(this.componentDir(name));
    } catch {
      return;
    }
    for (const e of entries) {
      if (e.includes(TMP_MARK)) await rm(join(this.componentDir(name), e), { force: true });
      else if (e !== 'state.json' && !live.has(e)) await removeTree(join(this.componentDir(name), e), this.opts.step);
    }
  }
}
