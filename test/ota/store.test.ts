import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { ReleaseManifest } from '../../gateway/ota/envelope.js';
import { OtaStore } from '../../gateway/ota/store.js';
import { makeRelease, newKey, tmp } from './helpers.js';

const key = newKey();
const rel = (v: string) => makeRelease({ version: v, keys: [key.priv] });
const ref = (r: { manifest: ReleaseManifest; payload: Buffer }) => ({
  version: r.manifest.version,
  sha256: r.manifest.sha256,
  envelopeSha256: createHash('sha256').update(r.payload).digest('hex'),
});

class PowerCut extends Error {}

/** A store hook that cuts the power after `n` durable steps. */
function cutAfter(n: number) {
  let count = 0;
  const steps: string[] = [];
  return {
    steps,
    hook: (step: string) => {
      steps.push(step);
      if (++count === n) throw new PowerCut(step);
    },
  };
}

async function install(store: OtaStore, r: ReturnType<typeof rel>) {
  await store.stage(r.manifest, r.bytes, r.payload);
  await store.activate(r.manifest.component, ref(r));
  await store.startProbation(r.manifest.component);
  await store.commit(r.manifest.component);
}

/** After a restart: recover, then the current version's files must be complete and match. */
async function afterRestart(dir: string) {
  const store = await OtaStore.open(dir);
  const recovered = await store.recover();
  const cur = await store.current('thermo');
  if (cur) {
    const bytes = readFileSync(cur.wasmPath);
    expect(createHash('sha256').update(bytes).digest('hex')).toBe(cur.sha256);
    expect(cur.manifest.version).toBe(cur.version);
  }
  return { store, recovered, version: cur?.version, floor: store.floor('thermo'), state: store.state('thermo') };
}

describe('durable component store', () => {
  it('stage → activate → commit moves current/previous and raises the floor; rollback returns to previous', async () => {
    const dir = tmp('store');
    const store = await OtaStore.open(dir);
    expect(await store.current('thermo')).toBeUndefined();
    await install(store, rel('1.0.0'));
    const b = rel('1.1.0');
    await store.stage(b.manifest, b.bytes, b.payload);
    expect(store.state('thermo').current?.version).toBe('1.0.0'); // staging changes nothing visible
    await store.activate('thermo', ref(b));
    expect(store.state('thermo')).toMatchObject({ current: { version: '1.1.0' }, previous: { version: '1.0.0' }, floor: '1.0.0', pending: { phase: 'activating' } });
    await store.rollback('thermo');
    expect(store.state('thermo')).toMatchObject({ current: { version: '1.0.0' }, floor: '1.0.0', rolledBack: [ref(b).envelopeSha256] });
    expect(store.state('thermo').pending).toBeUndefined();
    expect(existsSync(store.versionDir('thermo', '1.1.0'))).toBe(false); // garbage collected
    const c = rel('1.2.0');
    await install(store, c);
    const reopened = await OtaStore.open(dir);
    expect(reopened.state('thermo')).toMatchObject({ current: { version: '1.2.0' }, previous: { version: '1.0.0' }, floor: '1.2.0' });
    expect(readdirSync(store.componentDir('thermo')).sort()).toEqual(['1.0.0', '1.2.0', 'floor.json', 'state.json']);
  });

  it('a power cut after any single write of an update leaves the old or the new version, never neither', async () => {
    const outcomes = new Set<string>();
    for (let n = 1; ; n++) {
      const dir = tmp('cut');
      await install(await OtaStore.open(dir), rel('1.0.0'));
      const cut = cutAfter(n);
      const store = await OtaStore.open(dir, { step: cut.hook });
      let finished = true;
      try {
        await install(store, rel('1.1.0'));
      } catch (err) {
        if (!(err instanceof PowerCut)) throw err;
        finished = false;
      }
      const after = await afterRestart(dir);
      expect(['1.0.0', '1.1.0'], `cut after step ${n} (${cut.steps.at(-1)})`).toContain(after.version);
      expect(after.state.pending).toBeUndefined();
      // Once 1.1.0 runs after a restart it is committed: floor moved with it, atomically.
      expect(after.floor).toBe(after.version);
      outcomes.add(after.version!);
      if (finished) {
        expect(after.version).toBe('1.1.0');
        expect(n).toBeGreaterThan(10); // it really went through many steps
        break;
      }
    }
    expect([...outcomes].sort()).toEqual(['1.0.0', '1.1.0']);
  });

  it('a power cut anywhere in a rollback leaves the previous version after restart', async () => {
    for (let n = 1; ; n++) {
      const dir = tmp('cutrb');
      const s0 = await OtaStore.open(dir);
      await install(s0, rel('1.0.0'));
      const b = rel('1.1.0');
      await s0.stage(b.manifest, b.bytes, b.payload);
      await s0.activate('thermo', ref(b));
      await s0.startProbation('thermo');
      const store = await OtaStore.open(dir, { step: cutAfter(n).hook });
      let finished = true;
      try {
        await store.rollback('thermo');
      } catch (err) {
        if (!(err instanceof PowerCut)) throw err;
        finished = false;
      }
      const after = await afterRestart(dir);
      expect(after.version).toBe('1.0.0');
      expect(after.floor).toBe('1.0.0');
      expect(after.store.isRolledBack('thermo', ref(b).envelopeSha256)).toBe(true);
      if (finished) break;
    }
  });

  it('a restart with an activation pending reverts it and says from which phase', async () => {
    const dir = tmp('pending');
    const s = await OtaStore.open(dir);
    await install(s, rel('1.0.0'));
    const b = rel('1.1.0');
    await s.stage(b.manifest, b.bytes, b.payload);
    await s.activate('thermo', ref(b));
    await s.startProbation('thermo');
    const { recovered, version } = await afterRestart(dir);
    expect(version).toBe('1.0.0');
    expect(recovered).toEqual([{ component: 'thermo', phase: 'probation', reverted: ref(b), current: expect.objectContaining({ version: '1.0.0' }) }]);
  });

  it('first OTA of a component that ran from config: rollback goes back to "no stored version"', async () => {
    const dir = tmp('first');
    const s = await OtaStore.open(dir);
    const a = rel('1.0.0');
    await s.stage(a.manifest, a.bytes, a.payload);
    await s.activate('thermo', ref(a));
    const { recovered, version, state } = await afterRestart(dir);
    expect(version).toBeUndefined();
    expect(recovered[0]).toMatchObject({ component: 'thermo', phase: 'activating' });
    expect(recovered[0]!.current).toBeUndefined();
    expect(state.floor).toBeUndefined();
    expect(existsSync(join(dir, 'components', 'thermo', '1.0.0'))).toBe(false);
  });
});

describe('a damaged store record', () => {
  async function installed12() {
    const dir = tmp('damage');
    const store = await OtaStore.open(dir);
    await install(store, rel('1.1.0'));
    await install(store, rel('1.2.0'));
    return { dir, store, stateFile: join(store.componentDir('thermo'), 'state.json') };
  }

  it('a truncated state.json is reported naming the file; the floor survives from floor.json', async () => {
    const { dir, stateFile } = await installed12();
    writeFileSync(stateFile, readFileSync(stateFile, 'utf8').slice(0, 20));
    const store = await OtaStore.open(dir);
    expect(store.damaged().map((d) => d.file)).toEqual([stateFile]);
    await expect(store.current('thermo')).rejects.toThrow(stateFile);
    expect(store.floor('thermo')).toBe('1.2.0');
    expect(await store.recover()).toEqual([]);
    // Nothing was garbage-collected: the evidence stays until a new release replaces the record.
    expect(readdirSync(store.componentDir('thermo')).sort()).toEqual(['1.1.0', '1.2.0', 'floor.json', 'state.json']);
    // A new release writes a fresh record and clears the damage.
    await install(store, rel('1.3.0'));
    expect(store.damaged()).toEqual([]);
    expect((await store.current('thermo'))?.version).toBe('1.3.0');
  });

  it('with floor.json gone too, the floor is the highest version directory (never lower than what was committed)', async () => {
    const { dir, store: s0, stateFile } = await installed12();
    writeFileSync(stateFile, 'garbage');
    rmSync(join(s0.componentDir('thermo'), 'floor.json'));
    const store = await OtaStore.open(dir);
    expect(store.floor('thermo')).toBe('1.2.0');
  });

  it('a garbage manifest.json or replaced component.wasm is reported naming the file', async () => {
    const { dir, store: s0 } = await installed12();
    const v = s0.versionDir('thermo', '1.2.0');
    writeFileSync(join(v, 'component.wasm'), Buffer.from('other bytes'));
    let store = await OtaStore.open(dir);
    const cur = await store.current('thermo');
    await expect(store.readBytes(cur!)).rejects.toThrow(/component\.wasm: sha256 is [0-9a-f]{64}, 1\.2\.0 was committed with/);
    writeFileSync(join(v, 'manifest.json'), '{"component":"thermo","version":"9.9.9"');
    store = await OtaStore.open(dir);
    await expect(store.current('thermo')).rejects.toThrow(join(v, 'manifest.json'));
    writeFileSync(join(v, 'manifest.json'), JSON.stringify({ component: 'thermo', version: '9.9.9' }));
    await expect(store.current('thermo')).rejects.toThrow('not the manifest of thermo 1.2.0');
  });

  it('floor.json lagging behind state.json (a crash between the two writes) is repaired at open', async () => {
    const { dir, store: s0 } = await installed12();
    const floorFile = join(s0.componentDir('thermo'), 'floor.json');
    writeFileSync(floorFile, JSON.stringify({ floor: '1.1.0' }));
    await OtaStore.open(dir);
    expect(JSON.parse(readFileSync(floorFile, 'utf8'))).toEqual({ floor: '1.2.0' });
  });
});
