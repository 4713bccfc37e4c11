import { NotConnectedError, type MqttConnection } from '../mqtt/connection.js';
import { FINAL_PHASES, isPhase } from '../ota/reasons.js';
import type { OtaStatus } from '../ota/updater.js';
import { topics } from '../mqtt/topics.js';
import { failedCount, parseMaxFailures, rolloutTopic, waveMembers, withinLimit, type RolloutState } from './plan.js';

/**
 * Runs a rollout (contract 7.5) from its retained state, whether it was just planned or is being
 * resumed after the CLI that started it died.
 *
 * Per wave: the wave's gateways are added to `sent` and the state is published (retained) *before*
 * any envelope goes out, so a CLI killed mid-send leaves a state that names every gateway that may
 * have received it. Then the envelope goes to each one's `<prefix>/gw/<id>/ota/<component>` (QoS 1,
 * retained like `airssys push`: a gateway that reconnects within the wave still gets it). The wave
 * ends when each of its gateways has a final OTA status about this envelope (`committed`,
 * `rejected`, `rolled-back`) or the wave timeout passes (the rest count as failed, `timeout`). Then
 * the failures so far are compared with the limit: within it the next wave starts, past it the
 * rollout is `aborted` and nothing more is sent. (The gateways that failed have already rolled
 * themselves back: that is the gateway's probation, not the rollout's doing.)
 *
 * Resume: a gateway in `sent` with no status at all about this envelope is sent it again (the
 * gateways ignore a replay of an envelope they already have); one that reported anything about it is
 * never sent it again. The wave in progress gets a fresh timeout.
 */
export type RolloutEvent =
  | { type: 'wave-start'; wave: number; waves: number; size: number; sending: number }
  | { type: 'progress'; wave: number; waves: number; size: number; committed: number; failed: number; pending: number }
  | { type: 'wave-end'; wave: number; waves: number; size: number; committed: number; failed: number; timedOut: number }
  | { type: 'aborted'; reason: string }
  | { type: 'completed' };

export interface RunOptions {
  conn: MqttConnection;
  prefix: string;
  state: RolloutState;
  onEvent?: (e: RolloutEvent) => void;
  /** Envelopes in flight at once (default 64). */
  sendWindow?: number;
  /**
   * A wave's gateways that reported nothing at all about the envelope get it again this often
   * (default 20 s; 0: never). A broker cluster that loses a node can acknowledge a publish it then
   * fails to deliver or retain; a gateway ignores an envelope it has already seen, so this is safe.
   */
  resendMs?: number;
  /** Retained statuses are in once nothing arrived for this long (default 300 ms). */
  quietMs?: number;
}

export async function runRollout(opts: RunOptions): Promise<RolloutState> {
  const { conn, prefix, state } = opts;
  const emit = opts.onEvent ?? (() => undefined);
  const limit = parseMaxFailures(state.maxFailures);
  const statuses = new Map<string, OtaStatus>();
  const inWave = new Set<string>();
  let wake: () => void = () => undefined;
  let lastMessage = Date.now();

  const record = (gw: string) => {
    const s = statuses.get(gw);
    if (!s || !inWave.has(gw) || state.results[gw] || !FINAL_PHASES.includes(s.phase)) return false;
    state.results[gw] = s.phase === 'committed' ? { outcome: 'committed' } : { outcome: s.phase as 'rejected' | 'rolled-back', ...(s.reason ? { reason: s.reason } : {}) };
    return true;
  };

  const statusFilter = topics.otaStatus(prefix, '+', state.component);
  const onMessage = (topic: string, payload: Buffer) => {
    const parts = topic.split('/');
    if (parts.length < 4 || parts[parts.length - 1] !== 'status') return;
    const gw = parts[parts.length - 4]!;
    if (topic !== topics.otaStatus(prefix, gw, state.component)) return;
    let s: OtaStatus;
    try {
      s = JSON.parse(payload.toString()) as OtaStatus;
    } catch {
      return;
    }
    // Only statuses naming this exact envelope count (an older release's retained status does not).
    if (!s || !isPhase(s.phase) || s.envelope !== state.envelopeSha256) return;
    lastMessage = Date.now();
    statuses.set(gw, s);
    if (record(gw)) {
      scheduleState();
      wake();
    }
  };

  // The retained state: published at each wave's start and end, and at most once a second between.
  let stateTimer: NodeJS.Timeout | undefined;
  const publishState = async () => {
    if (stateTimer) clearTimeout(stateTimer);
    stateTimer = undefined;
    state.updatedAt = Date.now();
    await conn.publish(rolloutTopic(prefix, state.id), JSON.stringify(state), { qos: 1, retain: true });
  };
  const scheduleState = () => {
    stateTimer ??= setTimeout(() => void publishState().catch(() => undefined), 1000);
  };

  conn.on('message', onMessage);
  try {
    // A broker cluster that lost a node refuses new subscriptions for a while (NATS: SUBACK 0x80
    // until JetStream can back it): asked for again in the background rather than failing the rollout.
    await conn.subscribe(statusFilter, { qos: 1, refused: 'retry' });
    // A resumed rollout must see what the gateways already reported before deciding whom to send to.
    const quiet = opts.quietMs ?? 300;
    const t0 = Date.now();
    lastMessage = Math.max(lastMessage, t0);
    while (Date.now() - lastMessage < quiet && Date.now() - t0 < 10_000) await sleep(50);

    const waves = state.sizes.length;
    for (let w = state.wave; w < waves && state.state === 'running'; w++) {
      const members = waveMembers(state, w);
      const already = new Set(state.sent);
      const fresh = members.filter((m) => !already.has(m));
      const again = members.filter((m) => already.has(m) && !statuses.has(m) && !state.results[m]);
      state.sent.push(...fresh);
      state.wave = w;
      for (const m of waveMembers(state, w)) inWave.add(m);
      // Sent gateways of earlier waves are settled; only this wave's may still report.
      await publishState();
      emit({ type: 'wave-start', wave: w + 1, waves, size: members.length, sending: fresh.length + again.length });
      await sendAll(conn, [...fresh, ...again].map((gw) => topics.ota(prefix, gw, state.component)), state.envelope, opts.sendWindow ?? 64);

      const deadline = Date.now() + state.waveTimeoutS * 1000;
      for (const m of members) record(m);
      let lastProgress = '';
      const resendMs = opts.resendMs ?? 20_000;
      let resendAt = Date.now() + resendMs;
      for (;;) {
        const committed = members.filter((m) => state.results[m]?.outcome === 'committed').length;
        const failed = members.filter((m) => state.results[m] && state.results[m]!.outcome !== 'committed').length;
        const pending = members.length - committed - failed;
        const key = `${committed}/${failed}`;
        if (key !== lastProgress) {
          lastProgress = key;
          emit({ type: 'progress', wave: w + 1, waves, size: members.length, committed, failed, pending });
        }
        if (pending === 0 || Date.now() >= deadline) break;
        // Statuses missed while the link is down must not turn into timeouts: stop here, and let the
        // caller reconnect and resume from the retained state (which re-reads every status).
        if (!conn.connected) throw new NotConnectedError();
        if (resendMs > 0 && Date.now() >= resendAt) {
          resendAt = Date.now() + resendMs;
          const silent = members.filter((m) => !statuses.has(m) && !state.results[m]);
          if (silent.length) await sendAll(conn, silent.map((gw) => topics.ota(prefix, gw, state.component)), state.envelope, opts.sendWindow ?? 64);
        }
        await new Promise<void>((resolve) => {
          wake = resolve;
          setTimeout(resolve, Math.min(250, Math.max(0, deadline - Date.now())));
        });
      }
      let timedOut = 0;
      for (const m of members) {
        if (!state.results[m]) {
          state.results[m] = { outcome: 'timeout' };
          timedOut++;
        }
      }
      inWave.clear();
      const committed = members.filter((m) => state.results[m]!.outcome === 'committed').length;
      emit({ type: 'wave-end', wave: w + 1, waves, size: members.length, committed, failed: members.length - committed, timedOut });
      const failed = failedCount(state);
      if (!withinLimit(limit, failed, state.sent.length)) {
        state.state = 'aborted';
        state.abortReason = `${failed} of ${state.sent.length} gateway(s) failed after wave ${w + 1}, more than --max-failures ${state.maxFailures}`;
        state.wave = w + 1;
        await publishState();
        emit({ type: 'aborted', reason: state.abortReason });
        return state;
      }
      state.wave = w + 1;
    }
    state.state = 'completed';
    await publishState();
    emit({ type: 'completed' });
    return state;
  } finally {
    if (stateTimer) clearTimeout(stateTimer);
    conn.off('message', onMessage);
    await conn.unsubscribe(statusFilter).catch(() => undefined);
  }
}

async function sendAll(conn: MqttConnection, topics: string[], payload: string, window: number): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < topics.length) await conn.publish(topics[next++]!, payload, { qos: 1, retain: true });
  };
  await Promise.all(Array.from({ length: Math.min(window, topics.length) }, worker));
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
