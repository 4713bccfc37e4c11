import { randomBytes } from 'node:crypto';
import { GatewayError } from '../../runtime/errors.js';

/**
 * The rollout plan and its retained state (contract 7.5), as pure data and functions: parsing the
 * operator's `--waves` and `--max-failures`, cutting the targets into waves, deciding whether a
 * wave's failures stop the rollout, and the contract's JSON summary. The runner (rollout.ts) does the
 * MQTT; everything it decides is decided here.
 */

/** `--waves 1,10,100`: cumulative percentages, strictly increasing, ending at 100. */
export function parseWaves(text: string): number[] {
  const fix = 'give cumulative percentages of the targets ending in 100, e.g. --waves 1,10,100';
  const parts = text.split(',').map((s) => s.trim());
  const out: number[] = [];
  for (const p of parts) {
    const n = Number(p);
    if (p === '' || !Number.isFinite(n) || n <= 0 || n > 100) throw new GatewayError('USAGE', `--waves ${JSON.stringify(text)}: ${JSON.stringify(p)} is not a percentage between 0 (exclusive) and 100; ${fix}`);
    if (out.length && n <= out[out.length - 1]!) throw new GatewayError('USAGE', `--waves ${JSON.stringify(text)}: ${n} after ${out[out.length - 1]} does not increase (the list is cumulative); ${fix}`);
    out.push(n);
  }
  if (out[out.length - 1] !== 100) throw new GatewayError('USAGE', `--waves ${JSON.stringify(text)} does not end at 100, so some targets would never get the release; ${fix}`);
  return out;
}

/**
 * How many gateways each wave adds: wave k ends at ceil(pct_k % of the targets), and each wave holds
 * at least one gateway. With fewer targets than waves the last waves would be empty: they are
 * dropped (the plan then has as many waves as targets).
 */
export function waveSizes(percentages: number[], targets: number): number[] {
  const sizes: number[] = [];
  let done = 0;
  for (const pct of percentages) {
    if (done >= targets) break;
    const end = Math.min(targets, Math.max(done + 1, Math.ceil((pct * targets) / 100 - 1e-9)));
    sizes.push(end - done);
    done = end;
  }
  return sizes;
}

/** `--max-failures 3` (a count) or `20%` (of the gateways sent to so far). */
export type FailureLimit = { count: number } | { percent: number };

export function parseMaxFailures(text: string): FailureLimit {
  const fix = 'give a count (--max-failures 0) or a percentage of the gateways sent to (--max-failures 20%)';
  const pct = /^(\d+(?:\.\d+)?)%$/.exec(text.trim());
  if (pct) {
    const p = Number(pct[1]);
    if (p > 100) throw new GatewayError('USAGE', `--max-failures ${text}: more than 100%; ${fix}`);
    return { percent: p };
  }
  if (/^\d+$/.test(text.trim())) return { count: Number(text.trim()) };
  throw new GatewayError('USAGE', `--max-failures ${JSON.stringify(text)} is neither a count nor a percentage; ${fix}`);
}

export const formatLimit = (l: FailureLimit) => ('count' in l ? String(l.count) : `${l.percent}%`);

/** Within the limit the next wave goes out; past it the rollout aborts. */
export function withinLimit(limit: FailureLimit, failed: number, touched: number): boolean {
  if ('count' in limit) return failed <= limit.count;
  return failed <= (limit.percent / 100) * touched + 1e-9;
}

/** How a target ended this release; `timeout`: no final status within its wave's timeout. */
export type Outcome = 'committed' | 'rejected' | 'rolled-back' | 'timeout';

export interface TargetResult {
  outcome: Outcome;
  reason?: string;
}

/** The retained `<prefix>/rollouts/<id>/state`: everything a CLI on another machine needs to resume. */
export interface RolloutState {
  id: string;
  state: 'running' | 'completed' | 'aborted';
  component: string;
  version: string;
  /** SHA-256 of the envelope bytes: how the gateways' OTA statuses name this release. */
  envelopeSha256: string;
  /** The envelope exactly as it is published (so a resumed rollout sends the same bytes). */
  envelope: string;
  selector: { group: string } | { gateways: string[] };
  /** Fixed at the start, in wave order. */
  targets: string[];
  percentages: number[];
  sizes: number[];
  maxFailures: string;
  waveTimeoutS: number;
  /** Index of the wave in progress (= sizes.length once all ended). */
  wave: number;
  /** Gateways the envelope was sent to, in order. Written before sending (a resume re-checks them). */
  sent: string[];
  results: Record<string, TargetResult>;
  startedAt: number;
  updatedAt: number;
  /** Why the rollout stopped early. */
  abortReason?: string;
}

export const rolloutTopic = (prefix: string, id: string) => `${prefix}/rollouts/${id}/state`;

/** Ids are topic levels: readable (component, version) and unique (random suffix). */
/**
 * `<component>-<version>-<6 hex>` with the version's dots as `_` (`beacon-1_1_0-a1b2c3`): the id is a
 * topic level, and NATS's MQTT server refuses `.` in topics (it maps levels to NATS subject tokens).
 */
export function newRolloutId(component: string, version: string): string {
  return `${component}-${version}`.replace(/\./g, '_').replace(/[^A-Za-z0-9_-]/g, '-').slice(0, 48) + '-' + randomBytes(3).toString('hex');
}

export const ROLLOUT_ID_RE = /^[A-Za-z0-9_.-]{1,80}$/;

/** The members of wave `w` (0-based). */
export function waveMembers(s: Pick<RolloutState, 'targets' | 'sizes'>, w: number): string[] {
  const start = s.sizes.slice(0, w).reduce((a, b) => a + b, 0);
  return s.targets.slice(start, start + s.sizes[w]!);
}

export const failedCount = (s: RolloutState) => Object.values(s.results).filter((r) => r.outcome !== 'committed').length;

export interface RolloutSummary {
  id: string;
  state: 'running' | 'completed' | 'aborted';
  targets: number;
  touched: number;
  committed: number;
  failed: number;
  waves: { size: number; committed: number; failed: number; pending: number }[];
}

/** The contract's `{"rollout":{…}}` body. `pending`: no outcome yet (including never sent). */
export function summarize(s: RolloutState): RolloutSummary {
  const waves = s.sizes.map((size, w) => {
    const members = waveMembers(s, w);
    const committed = members.filter((m) => s.results[m]?.outcome === 'committed').length;
    const failed = members.filter((m) => s.results[m] && s.results[m]!.outcome !== 'committed').length;
    return { size, committed, failed, pending: size - committed - failed };
  });
  return {
    id: s.id,
    state: s.state,
    targets: s.targets.length,
    touched: s.sent.length,
    committed: waves.reduce((a, w) => a + w.committed, 0),
    failed: waves.reduce((a, w) => a + w.failed, 0),
    waves,
  };
}

/** Parses a retained state; undefined when it is not one (an empty message clears the topic). */
export function parseRolloutState(payload: Buffer | string): RolloutState | undefined {
  try {
    const s = JSON.parse(payload.toString()) as RolloutState;
    if (!s || typeof s !== 'object' || typeof s.id !== 'string' || !Array.isArray(s.targets) || !Array.isArray(s.sizes) || !Array.isArray(s.sent) || typeof s.envelope !== 'string') return undefined;
    return s;
  } catch {
    return undefined;
  }
}
