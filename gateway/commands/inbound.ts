import { TokenBucket } from '../../drivers/pipeline/rate-limit.js';
import type { SendResult } from '../../runtime/supervision/mailbox.js';
import { clip } from '../../runtime/echo.js';
import type { ThrottledLog } from '../log/throttled.js';
import type { CommandsConfig } from './config.js';
import { topics } from '../mqtt/topics.js';

/**
 * Commands from the broker (`<prefix>/gw/<id>/cmd/<name>/<rest…>`, contract section 4) on their way
 * to a component's `on-message`. Anyone who may publish on the broker can send them, so every check
 * that costs nothing comes before the mailbox, in this order:
 *
 *   1. the topic names a component this gateway runs, with a `<rest…>`;
 *   2. the payload is at most `commands.max-bytes` and at most a quarter of the component's memory
 *      limit (a payload is copied into the guest; bigger ones would crash it on its memory limit);
 *   3. the component's token bucket (`commands.rate-per-s`, `commands.burst`) has a token;
 *   4. its `messaging.receive` grant covers `<rest…>` (else an audit record, itself rate-limited);
 *   5. the mailbox takes it.
 *
 * A command refused at 1-3 never reaches the component, so it cannot crash it. Every refusal is
 * counted (health `commands`) and logged through the throttled log: a flood costs a few lines.
 */

export interface CommandTarget {
  readonly version: string;
  readonly memoryMb: number;
  receives(topic: string): boolean;
  deliver(topic: string, payload: Uint8Array): SendResult;
}

export interface InboundCommandsOptions {
  prefix: string;
  gatewayId: string;
  config: CommandsConfig;
  target(name: string): CommandTarget | undefined;
  /** A command whose topic the grant does not cover (audit log). */
  denied(component: string, version: string, topic: string): void;
  log: ThrottledLog;
  now?: () => number;
}

export type Refusal = 'unknown-component' | 'too-large' | 'rate-limited' | 'not-granted' | 'mailbox';

export interface CommandStats {
  delivered: number;
  refused: Record<Refusal, number>;
  /** Per component: delivered and refused counts (unknown components are not listed: their names are the sender's). */
  byComponent: Record<string, { delivered: number; tooLarge: number; rateLimited: number; notGranted: number; mailbox: number }>;
}

export class InboundCommands {
  private readonly base: string;
  private readonly buckets = new Map<string, TokenBucket>();
  private readonly counts: CommandStats = {
    delivered: 0,
    refused: { 'unknown-component': 0, 'too-large': 0, 'rate-limited': 0, 'not-granted': 0, mailbox: 0 },
    byComponent: {},
  };

  constructor(private readonly opts: InboundCommandsOptions) {
    this.base = topics.commands(opts.prefix, opts.gatewayId);
  }

  /** Handles `topic` if it is a command topic; returns false for any other topic. */
  handle(topic: string, payload: Buffer): boolean {
    if (!topic.startsWith(this.base)) return false;
    const rest = topic.slice(this.base.length);
    const slash = rest.indexOf('/');
    const name = slash < 0 ? rest : rest.slice(0, slash);
    const sub = slash < 0 ? '' : rest.slice(slash + 1);
    const target = this.opts.target(name);
    if (!target || !sub) {
      this.counts.refused['unknown-component']++;
      this.opts.log.note('command-unknown-component', 'warn', { topic: clip(topic) }, 'command for an unknown component or without a topic; ignored');
      return true;
    }
    const c = this.componentCounts(name);
    const cap = Math.min(this.opts.config.maxBytes, Math.floor((target.memoryMb * 1024 * 1024) / 4));
    if (payload.length > cap) {
      this.counts.refused['too-large']++;
      c.tooLarge++;
      const why = cap < this.opts.config.maxBytes ? `a quarter of its ${target.memoryMb} MiB memory limit` : 'commands.max-bytes';
      this.opts.log.note(`command-too-large:${name}`, 'warn', { component: name, topic: clip(sub), bytes: payload.length, max: cap }, `command refused: ${payload.length} bytes is over ${cap} (${why}); send smaller commands or raise commands.max-bytes`);
      return true;
    }
    if (!this.bucket(name).take()) {
      this.counts.refused['rate-limited']++;
      c.rateLimited++;
      this.opts.log.note(`command-rate:${name}`, 'warn', { component: name }, `commands refused: more than ${this.opts.config.ratePerS}/s (burst ${this.opts.config.burst}); slow the sender or raise commands.rate-per-s`);
      return true;
    }
    if (!target.receives(sub)) {
      this.counts.refused['not-granted']++;
      c.notGranted++;
      this.opts.denied(name, target.version, clip(sub));
      return true;
    }
    const r = target.deliver(sub, new Uint8Array(payload));
    if (!r.ok) {
      this.counts.refused.mailbox++;
      c.mailbox++;
      this.opts.log.note(`command-mailbox:${name}`, 'warn', { component: name, topic: clip(sub), reason: r.reason }, `command rejected by the mailbox (${r.reason}: ${r.detail})`);
      return true;
    }
    this.counts.delivered++;
    c.delivered++;
    return true;
  }

  stats(): CommandStats {
    return structuredClone(this.counts);
  }

  private componentCounts(name: string): CommandStats['byComponent'][string] {
    let c = this.counts.byComponent[name];
    if (!c) this.counts.byComponent[name] = c = { delivered: 0, tooLarge: 0, rateLimited: 0, notGranted: 0, mailbox: 0 };
    return c;
  }

  private bucket(name: string): TokenBucket {
    let b = this.buckets.get(name);
    if (!b) this.buckets.set(name, (b = new TokenBucket(this.opts.config.ratePerS, this.opts.config.burst, this.opts.now)));
    return b;
  }
}
