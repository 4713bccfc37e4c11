import type { ConnectionLiveness } from '../mqtt/connection.js';

/**
 * The systemd watchdog (`WatchdogSec=`): `WATCHDOG=1` every half interval, but only while the
 * gateway is really alive, so that systemd restarts a hung one.
 *
 * Alive means:
 * - the event loop turns: the ping is sent from a timer, so a frozen loop (a synchronous spin, a
 *   stopped process) sends nothing;
 * - every component's supervisor answers a ping (it works through its operation queue) within
 *   `supervisorTimeoutMs`; a queue stuck behind a child start or stop that never settles is a hang
 *   no restart policy inside the process can cure;
 * - the broker session is not wedged: connected but nothing received for 3 keep-alive intervals
 *   (MQTT.js itself gives up after 1.5), or not connected and the connect/backoff cycle has not
 *   moved for longer than one connect timeout plus the longest backoff.
 *
 * A broker that is down or unreachable is NOT a hang: the connection keeps retrying on its backoff,
 * telemetry is buffered in the outbox, and the pings go on. Restarting the gateway would not bring
 * the broker back, and would cut local control for nothing.
 */

export interface LivenessProbe {
  readonly name: string;
  /** undefined: healthy; otherwise one line saying what is stuck. Must not block. */
  check(now: number): string | undefined;
}

/** Pings each supervisor (at most one ping outstanding each); stuck once one stays unanswered. */
export function supervisorProbe(services: () => Iterable<{ name: string; ping(): Promise<void> }>, timeoutMs: number): LivenessProbe {
  const outstanding = new Map<string, { since: number; answered: boolean }>();
  return {
    name: 'supervisors',
    check(now) {
      const seen = new Set<string>();
      let problem: string | undefined;
      for (const svc of services()) {
        seen.add(svc.name);
        const p = outstanding.get(svc.name);
        if (p && !p.answered) {
          if (now - p.since > timeoutMs) problem ??= `component ${svc.name}: its supervisor has not answered for ${Math.round((now - p.since) / 1000)} s`;
          continue;
        }
        const entry = { since: now, answered: false };
        outstanding.set(svc.name, entry);
        svc.ping().then(
          () => (entry.answered = true),
          // A rejected ping is an answer too: the queue moved.
          () => (entry.answered = true),
        );
      }
      for (const name of outstanding.keys()) if (!seen.has(name)) outstanding.delete(name);
      return problem;
    },
  };
}

/** Judges a broker session from its liveness snapshot (see the module comment). */
export function brokerVerdict(l: ConnectionLiveness, now: number): string | undefined {
  if (!l.retrying) return undefined;
  if (l.connected) {
    if (l.keepaliveMs > 0 && now - l.lastPacketAt > 3 * l.keepaliveMs) {
      return `broker session: connected but nothing received for ${Math.round((now - l.lastPacketAt) / 1000)} s (keep-alive ${l.keepaliveMs / 1000} s)`;
    }
    return undefined;
  }
  const slackMs = 10_000;
  if (now - l.lastProgressAt > l.connectBoundMs + slackMs) {
    return `broker session: not connected and no connect attempt for ${Math.round((now - l.lastProgressAt) / 1000)} s`;
  }
  return undefined;
}

export function brokerProbe(liveness: () => ConnectionLiveness): LivenessProbe {
  return { name: 'broker', check: (now) => brokerVerdict(liveness(), now) };
}

export interface WatchdogOptions {
  /** Sends the notification fields (a Notifier's send). */
  notify: (fields: Record<string, string | number>) => void;
  /** How often to ping: half of WATCHDOG_USEC, as sd_watchdog_enabled(3) recommends. */
  intervalMs: number;
  probes: LivenessProbe[];
  /** The healthy STATUS= line (called on each healthy tick; sent when it changes). */
  status?: () => string;
  /** Told when the gateway turns unhealthy and when it recovers. */
  log?: (level: 'warn' | 'info', message: string) => void;
}

export class Watchdog {
  private timer: NodeJS.Timeout | undefined;
  private lastStatus: string | undefined;
  private problem: string | undefined;
  /** Pings sent and ticks withheld (for tests and health). */
  readonly stats = { pings: 0, withheld: 0 };

  constructor(private readonly opts: WatchdogOptions) {}

  start(): void {
    if (this.timer) return;
    this.tick();
    this.timer = setInterval(() => this.tick(), this.opts.intervalMs);
    // The watchdog never keeps a stopping gateway alive.
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }

  /** One round: every probe, then WATCHDOG=1 (healthy) or nothing but a STATUS naming the hang. */
  tick(now = Date.now()): void {
    let problem: string | undefined;
    for (const p of this.opts.probes) {
      let r: string | undefined;
      try {
        r = p.check(now);
      } catch (err) {
        r = `${p.name} probe failed: ${(err as Error).message.split('\n')[0]}`;
      }
      problem ??= r;
    }
    if (problem) {
      this.stats.withheld++;
      if (problem !== this.problem) {
        this.opts.log?.('warn', `watchdog: ${problem}; not pinging systemd, which restarts the gateway when WatchdogSec runs out`);
        this.sendStatus(`hung: ${problem}`);
      }
      this.problem = problem;
      return;
    }
    if (this.problem) this.opts.log?.('info', `watchdog: healthy again (was: ${this.problem})`);
    this.problem = undefined;
    this.stats.pings++;
    const status = this.opts.status?.();
    if (status !== undefined && status !== this.lastStatus) {
      this.lastStatus = status;
      this.opts.notify({ WATCHDOG: 1, STATUS: status });
    } else this.opts.notify({ WATCHDOG: 1 });
  }

  private sendStatus(status: string): void {
    this.lastStatus = status;
    this.opts.notify({ STATUS: status });
  }
}

/**
 * The ping interval from the environment systemd sets with `WatchdogSec=`: half of WATCHDOG_USEC, or
 * undefined when there is no watchdog or it is meant for another process (WATCHDOG_PID).
 */
export function watchdogIntervalMs(env: NodeJS.ProcessEnv = process.env, pid = process.pid): number | undefined {
  const usec = Number(env.WATCHDOG_USEC);
  if (!Number.isFinite(usec) || usec <= 0) return undefined;
  if (env.WATCHDOG_PID !== undefined && env.WATCHDOG_PID !== '' && Number(env.WATCHDOG_PID) !== pid) return undefined;
  return Math.max(1, Math.floor(usec / 2000));
}
