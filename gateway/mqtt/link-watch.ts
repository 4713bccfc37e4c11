import type { MqttConnection } from './connection.js';

/**
 * The broker connection as the operator sees it: state changes, not retries. A gateway whose
 * broker is down says so once ("unreachable since …, retrying"), says it again only when the cause
 * changes (refused → credentials refused), and says when it is back and how long it took; health
 * carries the same facts. The connection itself retries with backoff (connection.ts).
 */

export type LinkLevel = 'info' | 'warn';
export type LinkLog = (level: LinkLevel, fields: Record<string, unknown>, message: string) => void;

export interface LinkStatus {
  connected: boolean;
  /** When the current state began (ms since epoch): connected since, or unreachable since. */
  since: number;
  /** Set while the broker cannot be reached (ms since epoch). */
  unreachableSince?: number;
  /** The last reason it could not be reached (one line). */
  lastError?: string;
  /** Connection attempts since the gateway started, and times the link was lost. */
  attempts: number;
  outages: number;
}

export class LinkWatch {
  private connected = false;
  private since: number;
  private unreachableSince: number | undefined;
  private attemptsAtLoss = 0;
  private announced = false;
  private everConnected = false;
  private lastError: string | undefined;
  private outages = 0;
  private readonly off: Array<() => void> = [];

  constructor(private readonly conn: MqttConnection, private readonly url: string, private readonly log: LinkLog, private readonly now: () => number = Date.now) {
    this.since = now();
    // Until the first CONNACK the gateway is "unreachable since start"; said only once it fails.
    this.unreachableSince = this.since;
    const on = <A extends unknown[]>(event: string, fn: (...a: A) => void) => {
      conn.on(event, fn as (...a: unknown[]) => void);
      this.off.push(() => conn.off(event, fn as (...a: unknown[]) => void));
    };
    on('connect', (info: { protocolVersion?: number }) => this.onConnect(info?.protocolVersion));
    on('disconnect', () => this.onDisconnect());
    on('error', (err: Error) => this.onTrouble(err.message));
    on('reconnecting', () => this.onTrouble(undefined));
  }

  status(): LinkStatus {
    return {
      connected: this.connected,
      since: this.since,
      ...(this.unreachableSince !== undefined && !this.connected ? { unreachableSince: this.unreachableSince } : {}),
      ...(this.lastError !== undefined ? { lastError: this.lastError } : {}),
      attempts: this.conn.attempts,
      outages: this.outages,
    };
  }

  dispose(): void {
    for (const f of this.off.splice(0)) f();
  }

  private onConnect(protocolVersion: number | undefined): void {
    const t = this.now();
    const down = this.unreachableSince;
    this.connected = true;
    this.since = t;
    this.unreachableSince = undefined;
    const fields = { broker: this.url, protocol: protocolVersion === 4 ? '3.1.1' : '5' };
    if (this.announced && down !== undefined) {
      const attempts = this.conn.attempts - this.attemptsAtLoss;
      // Same level as the "unreachable" line, so a log filtered at warn shows both ends of an outage.
      this.log('warn', { ...fields, downMs: t - down, attempts }, `broker connected again after ${Math.round((t - down) / 1000)} s, ${attempts} attempt${attempts === 1 ? '' : 's'}`);
    } else {
      this.log('info', fields, this.everConnected ? 'broker connected again' : 'broker connected');
    }
    this.everConnected = true;
    this.announced = false;
    this.lastError = undefined;
  }

  private onDisconnect(): void {
    const t = this.now();
    this.connected = false;
    this.since = t;
    this.unreachableSince = t;
    this.attemptsAtLoss = this.conn.attempts;
    this.outages++;
    this.announced = true;
    this.log('warn', { broker: this.url }, `broker connection lost at ${new Date(t).toISOString()}; retrying in the background`);
  }

  /** A failed attempt: said once per outage, and again only when the cause changes. */
  private onTrouble(cause: string | undefined): void {
    if (this.connected) return;
    if (this.announced && (cause === undefined || cause === this.lastError)) return;
    if (cause !== undefined) this.lastError = cause;
    if (cause === undefined && this.announced) return;
    if (!this.announced) this.attemptsAtLoss = Math.max(0, this.conn.attempts - 1);
    this.announced = true;
    const since = new Date(this.unreachableSince ?? this.now()).toISOString();
    this.log('warn', { broker: this.url, since }, `broker unreachable since ${since}${this.lastError ? ` (${this.lastError})` : ''}; retrying in the background`);
  }
}
