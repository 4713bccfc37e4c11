import { execFile } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, isAbsolute, resolve } from 'node:path';
import YAML from 'yaml';
import { ConfigError, loadConfig, type GatewayConfig } from '../config/index.js';
import { checkBroker } from './checks/broker.js';
import { checkBuses } from './checks/buses.js';
import { checkClock } from './checks/clock.js';
import { checkDisk } from './checks/disk.js';
import { checkGpio, checkGroups } from './checks/gpio.js';
import { checkNode } from './checks/node.js';
import { checkSerial } from './checks/serial.js';
import { chooseIdentity, type Identity } from './identity.js';
import type { Check, CheckResult, DoctorContext, RunCommand } from './types.js';

export type { CheckResult, DoctorContext } from './types.js';

/** Where `airssys doctor` looks for a config when none is given: the installer's, then the repo's. */
export const DEFAULT_CONFIGS = ['/etc/airssys/gateway.yaml', 'config/gateway.yaml'];

export interface DoctorOptions {
  config?: string;
  /** The sysfs mount (default /sys); GPIO is read from <sysfs>/class/gpio. */
  sysfsRoot?: string;
  devRoot?: string;
  /** For passwd/group lookups (default /etc). */
  etcRoot?: string;
  /** Evaluate permissions for this user (default: the service user when root, else the caller). */
  user?: string;
  identity?: Identity;
  nodeVersion?: string;
  now?: () => Date;
  run?: RunCommand;
  brokerTimeoutMs?: number;
  disk?: { failBelowBytes: number; warnBelowBytes: number };
  env?: Record<string, string | undefined>;
  /** Candidate configs when `config` is not given (tests pass []). */
  defaultConfigs?: string[];
}

export const CHECKS: Check[] = [checkNode, checkGpio, checkGroups, checkSerial, checkBuses, checkBroker, checkClock, checkDisk];

export const runCommand: RunCommand = (cmd, args) =>
  new Promise((resolve) => {
    execFile(cmd, args, { timeout: 5000 }, (err, stdout, stderr) => {
      if (err && (err as NodeJS.ErrnoException).code === 'ENOENT') return resolve(undefined);
      const code = err ? (typeof err.code === 'number' ? err.code : 1) : 0;
      resolve({ code, stdout: String(stdout), stderr: String(stderr) });
    });
  });

export async function runDoctor(options: DoctorOptions = {}): Promise<CheckResult[]> {
  const etcRoot = options.etcRoot ?? '/etc';
  const results: CheckResult[] = [];
  const { config, result, board, dataDir } = loadForDoctor(options);
  const ctx: DoctorContext = {
    sysfsRoot: options.sysfsRoot ?? '/sys',
    devRoot: options.devRoot ?? '/dev',
    etcRoot,
    nodeVersion: options.nodeVersion ?? process.version,
    now: options.now ?? (() => new Date()),
    run: options.run ?? runCommand,
    identity: options.identity ?? chooseIdentity(etcRoot, options.user),
    config,
    board,
    dataDir,
    brokerTimeoutMs: options.brokerTimeoutMs ?? 3000,
    disk: options.disk ?? { failBelowBytes: 50 * 1048576, warnBelowBytes: 500 * 1048576 },
  };
  for (const check of CHECKS) {
    try {
      const r = await check(ctx);
      results.push(...(Array.isArray(r) ? r : [r]));
    } catch (err) {
      // A check that throws is a doctor bug; say so on its line instead of losing the other lines.
      results.push({ name: check.name.replace(/^check/, '').toLowerCase(), status: 'fail', detail: `check crashed: ${(err as Error).message}`, fix: 'report this with AIRSSYS_DEBUG=1 output' });
    }
    if (check === checkNode) results.push(result);
  }
  return results;
}

interface Loaded {
  config: GatewayConfig | undefined;
  result: CheckResult;
  board: 'sim' | 'raspberry-pi';
  dataDir: string;
}

function loadForDoctor(options: DoctorOptions): Loaded {
  const file = options.config ?? (options.defaultConfigs ?? DEFAULT_CONFIGS).find((f) => existsSync(f));
  if (!file) {
    return {
      config: undefined,
      board: 'raspberry-pi',
      dataDir: '/var/lib/airssys',
      result: { name: 'config', status: 'warn', detail: `no config found (looked at ${(options.defaultConfigs ?? DEFAULT_CONFIGS).join(', ')}); checking as a Raspberry Pi with data dir /var/lib/airssys`, fix: 'pass --config FILE, or run scripts/install-pi.sh' },
    };
  }
  if (!existsSync(file)) {
    return {
      config: undefined,
      board: 'raspberry-pi',
      dataDir: '/var/lib/airssys',
      result: { name: 'config', status: 'fail', detail: `${file} does not exist; checking as a Raspberry Pi with data dir /var/lib/airssys`, fix: 'pass --config with the gateway\'s config (the installer writes /etc/airssys/gateway.yaml)' },
    };
  }
  try {
    const config = loadConfig(file, { env: options.env });
    const n = config.components.length;
    return {
      config,
      board: config.board.kind,
      dataDir: config.gateway.dataDir,
      result: { name: 'config', status: 'ok', detail: `${file}: gateway ${config.gateway.id}, board ${config.board.kind}, broker ${config.mqtt.embedded ? 'embedded' : 'external'}, ${n} component${n === 1 ? '' : 's'}` },
    };
  } catch (err) {
    const problems = err instanceof ConfigError ? err.problems : [(err as Error).message];
    const first = problems[0]!.split('\n')[0]!;
    return {
      config: undefined,
      ...lenient(file),
      result: {
        name: 'config',
        status: 'fail',
        detail: problems.length > 1 ? `${first} (and ${problems.length - 1} more)` : first,
        fix: `fix ${file}${problems.length > 1 ? `; \`airssys start --config ${file}\` lists every problem` : ''}`,
      },
    };
  }
}

/** Board and data dir from a config that did not validate, so the other checks still run. */
function lenient(file: string): { board: 'sim' | 'raspberry-pi'; dataDir: string } {
  let raw: any;
  try {
    raw = YAML.parse(readFileSync(file, 'utf8'), { logLevel: 'silent' });
  } catch {
    raw = undefined;
  }
  const b = typeof raw?.board === 'string' ? raw.board : raw?.board?.kind;
  const d = raw?.gateway?.['data-dir'];
  const dataDir = typeof d === 'string' ? (isAbsolute(d) ? d : resolve(dirname(resolve(file)), d)) : resolve(dirname(resolve(file)), './var');
  return { board: b === 'sim' ? 'sim' : 'raspberry-pi', dataDir };
}

/** `ok   gpio     header chip ...` or `fail gpio     ... — fix: ...`: one line per check. */
export function formatResult(r: CheckResult): string {
  return `${r.status.padEnd(4)} ${r.name.padEnd(7)} ${r.detail}${r.fix && r.status !== 'ok' ? ` — fix: ${r.fix}` : ''}`;
}
