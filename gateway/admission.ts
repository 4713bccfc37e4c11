import { checkManifestAgainstBoard, type Board } from '../drivers/board.js';
import { checkDeviceConflicts } from '../drivers/ownership.js';
import { checkManifestAgainstPolicy, type Policy } from '../drivers/policy/policy.js';
import type { Manifest } from '../runtime/manifest.js';

/**
 * Whether components may run on this gateway: the one place that decides it, at startup (config
 * and OTA-installed versions) and for every OTA release, so a release can never be admitted by
 * rules that startup would refuse, or the other way round.
 *
 * Each check runs only when its input is given (the board is not open yet when the config is
 * first checked). Problems come out by kind, because each kind has its own error code and fix.
 */
export interface AdmissionInput {
  /** Each candidate's manifest must fit the policy (capabilities granted). */
  policy?: Policy;
  /** Each candidate's devices must exist on the board. */
  board?: Board;
  /**
   * Components that run (or will run) beside the candidates; the candidates and these must not
   * share an exclusive device. Without it, only the candidates among themselves are checked.
   */
  alongside?: readonly Manifest[];
}

export interface Admission {
  policy: string[];
  board: string[];
  devices: string[];
}

export function admission(candidates: readonly Manifest[], input: AdmissionInput): Admission {
  const { policy, board } = input;
  return {
    policy: policy ? candidates.flatMap((m) => checkManifestAgainstPolicy(m, policy)) : [],
    board: board ? candidates.flatMap((m) => checkManifestAgainstBoard(m, board)) : [],
    devices: checkDeviceConflicts([...(input.alongside ?? []), ...candidates]),
  };
}

/** Every problem in one list, policy first (the order OTA reports them). */
export function admissionProblems(a: Admission): string[] {
  return [...a.policy, ...a.board, ...a.devices];
}
