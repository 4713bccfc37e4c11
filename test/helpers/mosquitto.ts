import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createConnection, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * A real Mosquitto for integration tests: its own port, config and folder, stoppable and
 * restartable on the same port (to simulate a broker outage).
 */
export interface MosquittoOptions {
  /** Require these credentials (password file via mosquitto_passwd). */
  users?: Record<string, string>;
  port?: number;
  /** Keep sessions and queued QoS 1 messages across stop/restart (like a production broker). */
  persistence?: boolean;
  /** Use this ready-made password file (e.g. from `airssys broker-creds`) instead of `users`. */
  passwordFile?: string;
  /** Mosquitto `acl_file`: with it, every client sees only the topics its rules allow. */
  aclFile?: string;
  /** More mosquitto.conf lines, after the defaults (a later line wins). */
  extra?: string[];
}

export class Mosquitto {
  readonly dir: string;
  port = 0;
  private proc: ChildProcess | undefined;
  private log = '';

  constructor(private readonly opts: MosquittoOptions = {}) {
    this.dir = mkdtempSync(join(tmpdir(), 'airssys-mosq-'));
  }

  get url(): string {
    return `mqtt://127.0.0.1:${this.port}`;
  }

  async start(): Promise<this> {
    if (this.proc) return this;
    if (!this.port) this.port = this.opts.port ?? (await freePort());
    const lines0: string[] = [];
    // Run as root, mosquitto drops to user `mosquitto` and then cannot write its database here.
    if (process.getuid?.() === 0) lines0.push('user root');
    const persist = this.opts.persistence ? ['persistence true', `persistence_location ${this.dir}/`] : ['persistence false'];
    const lines = [...lines0, `listener ${this.port} 127.0.0.1`, ...persist, ...(process.env.MOSQ_DEBUG ? ['log_type all'] : ['log_type error', 'log_type warning']), 'log_dest stdout', 'max_inflight_messages 0', 'max_queued_messages 0'];
    if (this.opts.passwordFile) {
      lines.push('allow_anonymous false', `password_file ${this.opts.passwordFile}`);
    } else if (this.opts.users) {
      const pw = join(this.dir, 'passwd');
      let first = true;
      for (const [u, p] of Object.entries(this.opts.users)) {
        const r = spawnSync('mosquitto_passwd', first ? ['-b', '-c', pw, u, p] : ['-b', pw, u, p]);
        if (r.status !== 0) throw new Error(`mosquitto_passwd failed: ${r.stderr}`);
        first = false;
      }
      lines.push('allow_anonymous false', `password_file ${pw}`);
    } else {
      lines.push('allow_anonymous true');
    }
    if (this.opts.aclFile) lines.push(`acl_file ${this.opts.aclFile}`);
    if (this.opts.extra) lines.push(...this.opts.extra);
    const conf = join(this.dir, 'mosquitto.conf');
    writeFileSync(conf, lines.join('\n') + '\n');
    const proc = spawn('mosquitto', ['-c', conf], { stdio: ['ignore', 'pipe', 'pipe'] });
    proc.stdout!.on('data', (d) => (this.log += d));
    proc.stderr!.on('data', (d) => (this.log += d));
    this.proc = proc;
    const deadline = Date.now() + 10_000;
    while (!(await canConnect(this.port))) {
      if (proc.exitCode !== null) throw new Error(`mosquitto exited: ${this.log}`);
      if (Date.now() > deadline) throw new Error(`mosquitto did not listen on ${this.port}: ${this.log}`);
      await sleep(30);
    }
    return this;
  }

  get output(): string {
    return this.log;
  }

  async stop(): Promise<void> {
    const proc = this.proc;
    if (!proc) return;
    this.proc = undefined;
    if (proc.exitCode === null) {
      const exited = new Promise((r) => proc.once('exit', r));
      proc.kill('SIGTERM');
      await exited;
    }
  }

  async restart(): Promise<void> {
    await this.stop();
    await this.start();
  }

  async dispose(): Promise<void> {
    await this.stop();
    rmSync(this.dir, { recursive: true, force: true });
  }
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const c = createConnection({ port, host: '127.0.0.1' });
    c.once('connect', () => (c.destroy(), resolve(true)));
    c.once('error', () => resolve(false));
  });
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Polls `cond` until true or throws after timeoutMs (no timing assertions: just a bound for hangs). */
export async function until(cond: () => boolean, timeoutMs = 20_000, what = 'condition'): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}
