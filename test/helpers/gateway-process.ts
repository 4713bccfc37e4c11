import { spawn, type ChildProcess } from 'node:child_process';
import { BIN } from './cli.js';
import { until } from './mosquitto.js';

/**
 * `airssys start` as a real child process (from source), its stdout (pino JSON lines) and stderr
 * captured, for tests about what the gateway process does and says.
 */
export class GatewayProcess {
  private out = '';
  private err = '';
  readonly child: ChildProcess;

  constructor(config: string, readonly id: string, env: NodeJS.ProcessEnv = {}) {
    this.child = spawn(process.execPath, [BIN, 'start', '--config', config], { env: { ...process.env, AIRSSYS_FROM_SOURCE: '1', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    this.child.stdout!.on('data', (d) => (this.out += d));
    this.child.stderr!.on('data', (d) => (this.err += d));
  }

  get stdout(): string {
    return this.out;
  }
  get stderr(): string {
    return this.err;
  }
  /** Log records (pino JSON lines on stdout). */
  records(): Array<Record<string, any>> {
    return this.out.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as Record<string, any>);
  }
  /** Log records whose msg matches. */
  matching(re: RegExp): Array<Record<string, any>> {
    return this.records().filter((r) => re.test(String(r.msg)));
  }

  async running(timeoutMs = 60_000): Promise<void> {
    await until(() => this.err.includes(`${this.id} running`) || this.child.exitCode !== null, timeoutMs, `the gateway to start; stderr: ${this.err} stdout: ${this.out.slice(-2000)}`);
    if (this.child.exitCode !== null) throw new Error(`the gateway exited (${this.child.exitCode}): ${this.err} ${this.out.slice(-2000)}`);
  }

  async waitFor(re: RegExp, timeoutMs = 30_000): Promise<Record<string, any>> {
    await until(() => this.matching(re).length > 0, timeoutMs, `a log line matching ${re}; stdout tail: ${this.out.slice(-1500)}`);
    return this.matching(re)[0]!;
  }

  async stop(): Promise<number | null> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return this.child.exitCode;
    const exited = new Promise<number | null>((r) => this.child.once('exit', (code) => r(code)));
    this.child.kill('SIGTERM');
    return exited;
  }

  kill(): void {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill('SIGKILL');
  }
}

/** The latest retained health of gateway `id` on `url` (polls until one arrives). */
export async function retainedHealth(url: string, id: string, prefix = 'airssys', timeoutMs = 15_000): Promise<Record<string, any>> {
  const mqtt = (await import('mqtt')).default;
  const c = await mqtt.connectAsync(url, { reconnectPeriod: 0 });
  try {
    let body: Record<string, any> | undefined;
    c.on('message', (_t, p) => {
      if (p.length) body = JSON.parse(p.toString()) as Record<string, any>;
    });
    await c.subscribeAsync(`${prefix}/gw/${id}/health`, { qos: 0 });
    await until(() => body !== undefined, timeoutMs, 'a health message');
    return body!;
  } finally {
    await c.endAsync(true);
  }
}

export { ChildProcess };
