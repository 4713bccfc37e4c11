import { createHash } from 'node:crypto';
import { readdir, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { GatewayError } from '../../runtime/errors.js';
import { atomicWrite, ensureDir, removeTree, TMP_MARK, type StepHook } from '../../runtime/durable.js';
import type { ReleaseManifest } from './envelope.js';
import { compareSemver, isSemver } from './semver.js';

/**
 * The durable OTA component store under the data dir:
 *
 *   components/<name>/<version>/component.wasm   the bytes, verified against the manifest's sha256
 *   components/<name>/<version>/manifest.json    the release manifest (what was signed)
 *   components/<name>/<version>/envelope.json    the envelope as received (signatures, for audit)
 *   components/<name>/state.json                 current + previous pointers, floor, pending marker
 *   components/<name>/floor.json                 a second copy of the floor (see "Damage" below)
 *
 * The pointers and the floor live in ONE file so a single atomic rename moves them together:
 * "current = new, previous = old" can never be half-applied. Version directories are written
 * completely (each file atomically, directory fsynced) before state.json may reference them.
 *
 * Transitions: stage (files only) → activate (current = new, previous = old, `pending`) →
 * commit (floor = new, pending cleared) or roll back (current = previous). A startup that finds
 * `pending` set was interrupted mid-activation or mid-probation and rolls back: the gateway comes
 * back on the last committed version.
 *
 * Damage (an SD card that lost a sector, a hand edit): a record that cannot be read is reported as
 * a `StoreDamage` naming the file, for that component only; the rest of the store loads.
 * - state.json unreadable or malformed: the component has no usable OTA version (the gateway runs
 *   the config's version, or leaves an OTA-only component stopped). The file and the version
 *   directories are left as they are (no garbage collection) until a new release replaces them.
 * - manifest.json unreadable, or not the manifest state.json points at: `current()` throws.
 * - component.wasm whose SHA-256 is not the one recorded at commit: `readBytes()` throws.
 * The floor (highest version ever committed, the anti-downgrade/anti-replay memory) must survive a
 * damaged state.json, or an old signed release could be replayed. So `commit` also writes it to
 * floor.json, and a state.json that is damaged falls back to, in order: floor.json; else the
 * highest version directory on disk (over-estimates at worst by a version that was staged but
 * never committed: refusing one release too many is the safe side); else no floor. The running
 * config version still counts as a floor too (the updater takes the max).
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
const FLOOR_FILE = 'floor.json';
const STATE_FILE = 'state.json';

/** A record of the OTA store that cannot be trusted: `file` names it. */
export class StoreDamage extends GatewayError {
  constructor(
    readonly component: string,
    readonly file: string,
    readonly why: string,
  ) {
    super('STORE_DAMAGED', `OTA record of ${component} is damaged (${file}: ${why})`);
  }
}

const HEX64 = /^[0-9a-f]{64}$/;
const isRef = (v: unknown): v is VersionRef => {
  const r = v as VersionRef;
  return typeof r === 'object' && r !== null && typeof r.version === 'string' && isSemver(r.version) && typeof r.sha256 === 'string' && HEX64.test(r.sha256);
};

/** The reason `raw` is not a usable state.json, or undefined if it is. */
function stateProblem(raw: unknown): string | undefined {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) return 'not a JSON object';
  const s = raw as Partial<ComponentState>;
  if (s.current !== undefined && !isRef(s.current)) return '"current" is not a version reference';
  if (s.previous !== undefined && !isRef(s.previous)) return '"previous" is not a version reference';
  if (s.floor !== undefined && (typeof s.floor !== 'string' || !isSemver(s.floor))) return '"floor" is not a version';
  if (s.pending !== undefined && (typeof s.pending !== 'object' || s.pending === null || !['activating', 'probation'].includes(s.pending.phase))) return '"pending" is malformed';
  if (s.rolledBack !== undefined && !(Array.isArray(s.rolledBack) && s.rolledBack.every((e) => typeof e === 'string'))) return '"rolledBack" is malformed';
  return undefined;
}

const higher = (a: string | undefined, b: string | undefined) => (a === undefined ? b : b === undefined ? a : compareSemver(a, b) >= 0 ? a : b);

export class OtaStore {
  private readonly states = new Map<string, ComponentState>();
  private readonly damage = new Map<string, StoreDamage>();

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
      const file = join(this.root, name, STATE_FILE);
      let text: string;
      try {
        text = await readFile(file, 'utf8');
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        if (code === 'ENOENT' || code === 'ENOTDIR') continue;
        text = '';
        this.damage.set(name, new StoreDamage(name, file, `cannot read it (${code ?? (err as Error).message})`));
      }
      if (!this.damage.has(name)) {
        let raw: unknown;
        let problem: string | undefined;
        try {
          raw = JSON.parse(text);
          problem = stateProblem(raw);
        } catch (err) {
          problem = `not valid JSON (${(err as Error).message})`;
        }
        if (problem === undefined) {
          const st = raw as ComponentState;
          this.states.set(name, { ...st, rolledBack: st.rolledBack ?? [] });
          // Keep the second copy of the floor up to date (a crash may have come between the two writes).
          const copy = await this.readFloorCopy(name);
          if (st.floor && copy !== st.floor && higher(copy, st.floor) === st.floor) await this.writeFloorCopy(name, st.floor).catch(() => undefined);
          else if (copy && higher(copy, st.floor) === copy && copy !== st.floor) this.states.get(name)!.floor = copy;
          continue;
        }
        this.damage.set(name, new StoreDamage(name, file, problem));
      }
      // No usable pointers: the floor must still hold (no replay of an older signed release).
      const floor = (await this.readFloorCopy(name)) ?? (await this.highestVersionDir(name));
      this.states.set(name, floor ? { floor, rolledBack: [] } : { rolledBack: [] });
    }
  }

  private async readFloorCopy(name: string): Promise<string | undefined> {
    try {
      const raw = JSON.parse(await readFile(join(this.componentDir(name), FLOOR_FILE), 'utf8')) as { floor?: unknown };
      return typeof raw.floor === 'string' && isSemver(raw.floor) ? raw.floor : undefined;
    } catch {
      return undefined;
    }
  }

  private async writeFloorCopy(name: string, floor: string): Promise<void> {
    await atomicWrite(join(this.componentDir(name), FLOOR_FILE), JSON.stringify({ floor }) + '\n', { step: this.opts.step });
  }

  private async highestVersionDir(name: string): Promise<string | undefined> {
    let best: string | undefined;
    for (const e of await readdir(this.componentDir(name)).catch(() => [] as string[])) if (isSemver(e)) best = higher(best, e);
    return best;
  }

  /** Components whose record could not be read at open (see "Damage" above). */
  damaged(): StoreDamage[] {
    return [...this.damage.values()];
  }

  damageOf(name: string): StoreDamage | undefined {
    return this.damage.get(name);
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
    await atomicWrite(join(this.componentDir(name), STATE_FILE), JSON.stringify(next, null, 1) + '\n', { step: this.opts.step });
    this.states.set(name, next);
    // A fresh record replaces a damaged one.
    this.damage.delete(name);
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

  /** Removes a staged version directory that no pointer references (a stage the disk could not hold). */
  async discardStaged(name: string, version: string): Promise<void> {
    const s = this.states.get(name);
    if ([s?.current?.version, s?.previous?.version, s?.pending?.prior?.version].includes(version)) return;
    await removeTree(this.versionDir(name, version), this.opts.step);
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
    // After state.json: a crash (or a full disk) in between leaves the copy one commit behind, and
    // open() repairs it. The commit itself has happened: a failure here must not undo it.
    await this.writeFloorCopy(name, next.floor).catch(() => undefined);
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
      if (this.damage.has(name)) continue;
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

  /**
   * What runs for a component: the current version's files, or undefined for the configured source.
   * Throws StoreDamage when the record or the version's manifest cannot be trusted.
   */
  async current(name: string): Promise<InstalledVersion | undefined> {
    const damage = this.damage.get(name);
    if (damage) throw damage;
    const ref = this.states.get(name)?.current;
    if (!ref) return undefined;
    const dir = this.versionDir(name, ref.version);
    const file = join(dir, 'manifest.json');
    let manifest: ReleaseManifest;
    try {
      manifest = JSON.parse(await readFile(file, 'utf8')) as ReleaseManifest;
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      throw new StoreDamage(name, file, code ? `cannot read it (${code})` : `not valid JSON (${(err as Error).message})`);
    }
    if (typeof manifest !== 'object' || manifest === null || manifest.component !== name || manifest.version !== ref.version || manifest.sha256 !== ref.sha256) {
      throw new StoreDamage(name, file, `not the manifest of ${name} ${ref.version} that state.json records`);
    }
    return { ...ref, component: name, dir, wasmPath: join(dir, 'component.wasm'), manifest };
  }

  /** The component bytes, checked against the SHA-256 recorded when the version was committed. */
  async readBytes(v: InstalledVersion): Promise<Uint8Array> {
    let bytes: Buffer;
    try {
      bytes = await readFile(v.wasmPath);
    } catch (err) {
      throw new StoreDamage(v.component, v.wasmPath, `cannot read it (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
    }
    const sha = createHash('sha256').update(bytes).digest('hex');
    if (sha !== v.sha256) throw new StoreDamage(v.component, v.wasmPath, `sha256 is ${sha}, ${v.version} was committed with ${v.sha256}`);
    return new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }

  /** Removes version directories nothing points at (and stray temp files), keeping `keep` if given. */
  async gc(name: string, keep?: string): Promise<void> {
    // A damaged record does not say what is live: keep everything until a new release replaces it.
    if (this.damage.has(name)) return;
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
      else if (e !== STATE_FILE && e !== FLOOR_FILE && !live.has(e)) await removeTree(join(this.componentDir(name), e), this.opts.step);
    }
  }
}
