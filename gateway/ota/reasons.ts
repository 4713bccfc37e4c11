/** OTA phases and reason codes, exactly as contract sections 4 and 7.4 list them. */

export const PHASES = ['received', 'downloading', 'verifying', 'staged', 'activating', 'probation', 'committed', 'rejected', 'rolled-back'] as const;
export type Phase = (typeof PHASES)[number];
export const FINAL_PHASES: readonly Phase[] = ['committed', 'rejected', 'rolled-back'];

export const REASONS = [
  'bad-envelope',
  'bad-signature',
  'untrusted-key',
  'expired',
  'not-targeted',
  'downgrade',
  'too-large',
  'hash-mismatch',
  'capability-denied',
  'incompatible-world',
  'invalid-component',
  'init-failed',
  'crashed-in-probation',
  'timeout',
  // Contract 7.4: the data directory cannot hold the release.
  'no-space',
] as const;
export type Reason = (typeof REASONS)[number];

export const isPhase = (v: unknown): v is Phase => typeof v === 'string' && (PHASES as readonly string[]).includes(v);
export const isReason = (v: unknown): v is Reason => typeof v === 'string' && (REASONS as readonly string[]).includes(v);

/** An OTA step failed for a reason the status topic reports. */
export class OtaError extends Error {
  override name = 'OtaError';
  constructor(
    readonly reason: Reason,
    readonly detail: string,
  ) {
    super(`${reason}: ${detail}`);
  }
}
