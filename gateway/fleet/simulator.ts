import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import pino, { type Logger } from 'pino';
import YAML from 'yaml';
import { BuildWorker } from '../../runtime/build/build-worker.js';
import { GatewayError } from '../../runtime/errors.js';
import { loadConfig } from '../config/index.js';
import type { GatewayConfig } from '../config/types.js';
import { Gateway } from '../gateway.js';
import { SharedEngine } from './shared-engine.js';

/**
 * `airssys fleet-sim`: N real gateways in one process, for rehearsing rollouts, tests and
 * benchmarks. Each is a full Gateway (runtime, supervisor, OTA updater, outbox, its own MQTT
 * session) with id `<template id>-<i>` and data directory `<template data-dir>/<id>`; they share
 * one Engine (one component cache on disk under `<template data-dir>/cache`, one compile per
 * component in memory), one build worker and one logger (on stderr: stdout carries only `ready N`).
 */
export interface SimulatorOptions {
  templateFile: string;
  count: number;
  /** Gateways started at the same time (default 25): a 1,000-gateway start is not a connect storm. */
  startConcurrency?: number;
  /** Root logger (default: pino on stderr at the template's log.level); each gateway gets a child. */
  logger?: Logger;
}

/** Keys of a template that would make every simulated gateway bind the same port. */
export function portBindingKeys(raw: unknown): string[] {
  const r = (raw && typeof raw === 'object' ? raw : {}) as Record<string, unknown>;
  const out: string[] = [];
  if (r.metrics !== undefined && r.metrics !== null) out.push('metrics');
  if (r.ui !== undefined && r.ui !== null) out.push('ui');
  const m = r.mqtt as Record<string, unknown> | undefined;
  if (m && typeof m === 'object' && m.url === 'embedded') out.push('mqtt.url: embedded');
  return out;
}

/** The config of simulated gateway `i` (1-based) of a template. */
export function simulatedConfig(template: GatewayConfig, i: number): GatewayConfig {
  const id = `${template.gateway.id}-${i}`;
  return {
    ...template,
    gateway: { ...template.gateway, id, dataDir: join(template.gateway.dataDir, id) },
    // A client id from the template would make every session kick the previous one off the broker.
    mqtt: { ...template.mqtt, clientId: undefined },
  };
}

export class FleetSimulator {
  readonly gateways: Gateway[] = [];
  readonly template: GatewayConfig;
  private readonly engine: SharedEngine;
  private readonly buildWorker: BuildWorker;
  private readonly log: Logger;

  constructor(private readonly opts: SimulatorOptions) {
    if (!Number.isInteger(opts.count) || opts.count < 1) throw new GatewayError('USAGE', `--gateways must be a whole number of at least 1, got ${opts.count}`);
    let raw: unknown;
    try {
      raw = YAML.parse(readFileSync(opts.templateFile, 'utf8'));
    } catch {
      raw = undefined; // loadConfig below names the problem precisely
    }
    const binding = portBindingKeys(raw);
    if (binding.length) {
      throw new GatewayError('INVALID_CONFIG', `template ${opts.templateFile} sets ${binding.join(', ')}, which would bind the same port for every simulated gateway; remove ${binding.length > 1 ? 'them' : 'it'} from the template (and use an external broker)`);
    }
    this.template = loadConfig(opts.templateFile);
    this.log = opts.logger ?? pino({ level: this.template.log.level }, pino.destination({ fd: 2, sync: false }));
    this.buildWorker = new BuildWorker({ idleMs: 60_000 });
    this.engine = new SharedEngine({ cacheDir: join(this.template.gateway.dataDir, 'cache'), builder: this.buildWorker });
  }

  private stopping = false;
  private starting: Promise<void> | undefined;

  /** Starts every gateway; resolves once all of them are connected (their retained state `online`). */
  start(onOnline?: (online: number) => void): Promise<void> {
    this.starting = this.startAll(onOnline);
    return this.starting;
  }

  private async startAll(onOnline?: (online: number) => void): Promise<void> {
    const configs = Array.from({ length: this.opts.count }, (_, k) => simulatedConfig(this.template, k + 1));
    let next = 0;
    let online = 0;
    const worker = async () => {
      while (next < configs.length && !this.stopping) {
        const config = configs[next++]!;
        const gw = new Gateway({ config, logger: this.log.child({ gw: config.gateway.id }), shared: { engine: this.engine, buildWorker: this.buildWorker } });
        this.gateways.push(gw);
        await gw.start();
        const conn = gw.broker.connection;
        // Re-checked twice a second, so a SIGTERM while the broker is away does not wait forever.
        while (!conn.connected && !this.stopping) {
          await new Promise<void>((resolve) => {
            const done = () => {
              clearTimeout(t);
              conn.off('connect', done);
              resolve();
            };
            const t = setTimeout(done, 500);
            conn.on('connect', done);
          });
        }
        onOnline?.(++online);
      }
    };
    await Promise.all(Array.from({ length: Math.min(this.opts.startConcurrency ?? 25, configs.length) }, worker));
  }

  /** Stops every gateway (each publishes its retained `offline`), then the shared build worker. */
  async stop(): Promise<void> {
    // A SIGTERM during start: no new gateway starts, the ones starting finish, then all stop.
    this.stopping = true;
    await this.starting?.catch(() => undefined);
    const all = this.gateways.splice(0);
    let next = 0;
    const worker = async () => {
      while (next < all.length) {
        const gw = all[next++]!;
        await gw.stop().catch((err: Error) => this.log.warn({ gw: gw.config.gateway.id, err: err.message }, 'gateway did not stop cleanly'));
      }
    };
    await Promise.all(Array.from({ length: Math.min(50, all.length) }, worker));
    await this.buildWorker.close();
  }
}
