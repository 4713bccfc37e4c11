import { readFile } from 'node:fs/promises';
import type { Logger } from 'pino';
import type { Policy } from '../../drivers/policy/policy.js';
import type { Engine, PreparedComponent } from '../../runtime/engine.js';
import { GatewayError } from '../../runtime/errors.js';
import { parseManifest, type Manifest } from '../../runtime/manifest.js';
import type { GatewayConfig } from '../config/types.js';
import { admission, admissionProblems } from '../admission.js';
import { runtimeManifestSource } from '../ota/envelope.js';
import { compareSemver } from '../ota/semver.js';
import { StoreDamage, type OtaStore } from '../ota/store.js';

/** A component chosen to run, compiled and ready to start. */
export interface Loaded {
  manifest: Manifest;
  bytes: Uint8Array;
  prepared: PreparedComponent;
  source: 'config' | 'ota';
}

export interface LoadOptions {
  config: GatewayConfig;
  store: OtaStore;
  engine: Engine;
  policy: Policy;
  log: Logger;
}

/**
 * What the gateway runs at start: for each config component the newest admitted version (a
 * committed OTA version above the config's, else the config's own), then the components installed
 * over OTA that the config does not list.
 */
export async function loadComponents(o: LoadOptions): Promise<Map<string, Loaded>> {
  const loaded = new Map<string, Loaded>();
  for (const c of o.config.components) loaded.set(c.manifest.name, await loadConfigured(o, c.source, c.manifest));
  for (const name of o.store.components()) {
    if (loaded.has(name)) continue;
    const l = await loadInstalled(o, name, [...loaded.values()].map((x) => x.manifest));
    if (l) loaded.set(name, l);
  }
  return loaded;
}

/**
 * The newest version to run: a committed OTA version above the config's, if it still fits the
 * policy (an operator may have tightened it since), else the config's own.
 */
async function loadConfigured(o: LoadOptions, source: string, manifest: Manifest): Promise<Loaded> {
  const installed = o.store.state(manifest.name).current;
  // A damaged record is opened too, so that its one error line (naming the file) is logged.
  if (o.store.damageOf(manifest.name) || (installed && compareSemver(installed.version, manifest.version) > 0)) {
    const others = o.config.components.map((c) => c.manifest).filter((m) => m.name !== manifest.name);
    const l = await loadInstalled(o, manifest.name, others, manifest.version);
    if (l) return l;
  }
  let bytes: Uint8Array;
  try {
    bytes = await readFile(source);
  } catch (err) {
    throw new GatewayError('INVALID_CONFIG', `component ${manifest.name}: cannot read ${source} (${(err as NodeJS.ErrnoException).code}); build it with \`airssys build\` or fix components[].source`);
  }
  try {
    return { manifest, bytes, prepared: await o.engine.prepare(bytes, { memoryMb: manifest.limits.memoryMb }), source: 'config' };
  } catch (err) {
    if (err instanceof GatewayError) throw new GatewayError(err.code, `component ${manifest.name} (${source}): ${err.message}`);
    throw err;
  }
}

/**
 * A version installed over OTA. One that no longer fits the policy, cannot be prepared, or whose
 * record or bytes are damaged (see OtaStore "Damage") is logged in one line and not started: the
 * config's version runs instead (`fallback`), or, for a component only the store knows, it is
 * left stopped rather than refusing to start: the rest of the gateway keeps running.
 */
async function loadInstalled(o: LoadOptions, name: string, others: Manifest[], fallback?: string): Promise<Loaded | undefined> {
  const instead = fallback ? `running the config's ${fallback} instead` : 'left stopped';
  let installed;
  try {
    installed = await o.store.current(name);
  } catch (err) {
    if (!(err instanceof StoreDamage)) throw err;
    o.log.error({ component: name, file: err.file }, `${err.message}; ${instead}; push a new release to replace it`);
    return undefined;
  }
  if (!installed) return undefined;
  try {
    const manifest = parseManifest(runtimeManifestSource(installed.manifest));
    const problems = admissionProblems(admission([manifest], { policy: o.policy, alongside: others }));
    if (problems.length) throw new GatewayError('CAPABILITY_DENIED', problems[0]!);
    const bytes = await o.store.readBytes(installed);
    return { manifest, bytes, prepared: await o.engine.prepare(bytes, { memoryMb: manifest.limits.memoryMb }), source: 'ota' };
  } catch (err) {
    const file = err instanceof StoreDamage ? { file: err.file } : {};
    const fix = err instanceof StoreDamage ? 'push a new release to replace it' : 'list it in the config or push a version that fits';
    o.log.error({ component: name, version: installed.version, ...file }, `installed over OTA (${installed.version}) but not started: ${(err as Error).message}; ${instead}; ${fix}`);
    return undefined;
  }
}
