import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify as toYaml } from 'yaml';
import { BIN } from './cli.js';
import { Mosquitto, until } from './mosquitto.js';
import { Recorder } from './subscriber.js';

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

  /** SIGKILL (a power cut, as far as the data dir can tell) and wait for the process to be gone. */
  async sigkill(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    const exited = new Promise((r) => this.child.once('exit', r));
    this.kill();
    await exited;
  }
}

/**
 * One gateway process a test file starts, stops and starts again (restart tests): a temporary
 * folder holding `gateway.yaml` and the data dir `var/`, its own Mosquitto, and a recorder of
 * everything under `airssys/gw/<id>/#` that lives across the restarts. `open()` in beforeAll,
 * `dispose()` in afterAll.
 */
export class GatewayFixture {
  dir = '';
  broker!: Mosquitto;
  rec!: Recorder;
  /** The process of the last `run()`. */
  gw: GatewayProcess | undefined;

  constructor(readonly id: string, private readonly o: { startTimeoutMs: number } = { startTimeoutMs: 90_000 }) {}

  get config(): string {
    return join(this.dir, 'gateway.yaml');
  }
  get dataDir(): string {
    return join(this.dir, 'var');
  }

  async open(): Promise<this> {
    this.dir = await mkdtemp(join(tmpdir(), `airssys-${this.id}-`));
    this.broker = await new Mosquitto().start();
    this.rec = await new Recorder(this.broker.url, `airssys/gw/${this.id}/#`).start();
    return this;
  }

  /** Writes `gateway.yaml`: this gateway's id, data dir and broker, and the rest as given. */
  async writeConfig(rest: Record<string, unknown>): Promise<void> {
    await writeFile(this.config, toYaml({ gateway: { id: this.id, 'data-dir': this.dataDir }, mqtt: { url: this.broker.url }, ...rest }));
  }

  /** Starts the gateway on `gateway.yaml` and waits until it says it is running. */
  async run(): Promise<GatewayProcess> {
    this.gw = new GatewayProcess(this.config, this.id);
    await this.gw.running(this.o.startTimeoutMs);
    return this.gw;
  }

  async dispose(): Promise<void> {
    await this.gw?.stop();
    this.gw?.kill();
    await this.rec?.stop();
    await this.broker?.dispose();
    if (this.dir) await rm(this.dir, { recursive: true, force: true });
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
