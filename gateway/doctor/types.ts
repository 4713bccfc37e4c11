import type { GatewayConfig } from '../config/index.js';
import type { Identity } from './identity.js';

/** One line of `airssys doctor`: a status, what was found, and for anything not ok the fix. */
export interface CheckResult {
  name: string;
  status: 'ok' | 'warn' | 'fail';
  detail: string;
  fix?: string;
}

export interface CommandResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs a program; resolves undefined when it does not exist (ENOENT), never rejects. */
export type RunCommand = (cmd: string, args: string[]) => Promise<CommandResult | undefined>;

/**
 * Everything a check reads from the machine comes through here, so tests point it at fake trees in
 * temporary folders: sysfs, /dev, /etc (groups), the clock, the Node version and external commands.
 */
export interface DoctorContext {
  sysfsRoot: string;
  devRoot: string;
  etcRoot: string;
  nodeVersion: string;
  now: () => Date;
  run: RunCommand;
  /** Whose access the permission checks evaluate (the service user when run as root and it exists). */
  identity: Identity;
  /** The loaded config, or undefined when none was found or it did not load. */
  config: GatewayConfig | undefined;
  /** What the checks need even when the config did not validate (read leniently from the YAML). */
  board: 'sim' | 'raspberry-pi';
  dataDir: string;
  brokerTimeoutMs: number;
  disk: { failBelowBytes: number; warnBelowBytes: number };
}

export type Check = (ctx: DoctorContext) => Promise<CheckResult | CheckResult[]>;
