import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mqtt from 'mqtt';
import { freePort, sleep } from './mosquitto.js';

/**
 * A real NATS cluster with JetStream and MQTT on every node, all on loopback ports of its own, for
 * the "beyond one broker" tests. NATS's MQTT server needs JetStream and a server_name; its retained
 * messages and sessions live in streams replicated to min(cluster size, 3) nodes.
 * It never touches a nats-server it did not start (one may already run on 4222).
 */
export interface NatsNode {
  name: string;
  clientPort: number;
  clusterPort: number;
  mqttPort: number;
  dir: string;
  proc: ChildProcess | undefined;
  log: string;
}

export const hasNatsServer = (): boolean => spawnSync('nats-server', ['--version']).status === 0;

export class NatsCluster {
  readonly dir: string;
  readonly nodes: NatsNode[] = [];

  private constructor() {
    this.dir = mkdtempSync(join(tmpdir(), 'airssys-nats-'));
  }

  static async start(size = 3): Promise<NatsCluster> {
    const c = new NatsCluster();
    for (let i = 1; i <= size; i++) {
      c.nodes.push({ name: `n${i}`, clientPort: await freePort(), clusterPort: await freePort(), mqttPort: await freePort(), dir: join(c.dir, `n${i}`), proc: undefined, log: '' });
    }
    for (const n of c.nodes) c.spawn(n);
    await c.ready();
    return c;
  }

  mqttUrl(i: number): string {
    return `mqtt://127.0.0.1:${this.nodes[i]!.mqttPort}`;
  }

  get mqttUrls(): string[] {
    return this.nodes.map((_, i) => this.mqttUrl(i));
  }

  private spawn(n: NatsNode): void {
    mkdirSync(join(n.dir, 'js'), { recursive: true });
    const routes = this.nodes.filter((o) => o !== n).map((o) => `nats-route://127.0.0.1:${o.clusterPort}`);
    const conf = join(n.dir, 'nats.conf');
    writeFileSync(
      conf,
      [
        `server_name: ${n.name}`,
        // NATS_DEBUG=1: the nodes log MQTT sessions and JetStream requests (with NATS_KEEP_LOGS).
        ...(process.env.NATS_DEBUG ? ['debug: true'] : []),
        ...(process.env.NATS_DEBUG === 'trace' ? ['trace: true', 'max_traced_msg_len: 120'] : []),
        `listen: 127.0.0.1:${n.clientPort}`,
        `jetstream { store_dir: "${join(n.dir, 'js')}", max_memory_store: 64MB, max_file_store: 1GB }`,
        `cluster { name: airssys-test, listen: 127.0.0.1:${n.clusterPort}, routes: [${routes.join(', ')}] }`,
        // Retained messages and sessions stay in R3 streams, and so does each QoS 1 subscription's
        // consumer (NATS's default: consumer replicas = stream replicas). Not `consumer_replicas: 1`:
        // NATS 2.9 places an R1 consumer on a random peer of the stream, not on the client's node,
        // so a node's death silently cuts a third of the subscriptions of clients on the surviving
        // nodes, and a new one lands on the dead node one time in three (a 4 s timeout; docs/fleet.md).
        // stream_replicas explicitly: the default is the number of JetStream servers known when the
        // first MQTT client connects, which on a fresh cluster can be 2 — and an R2 stream stalls
        // (no quorum) when either node dies.
        `mqtt { listen: 127.0.0.1:${n.mqttPort}, stream_replicas: ${this.nodes.length}, consumer_inactive_threshold: "30s" }`,
        '',
      ].join('\n'),
    );
    const proc = spawn('nats-server', ['-c', conf], { stdio: ['ignore', 'pipe', 'pipe'] });
    proc.stdout!.on('data', (d) => (n.log += d));
    proc.stderr!.on('data', (d) => (n.log += d));
    n.proc = proc;
  }

  /** Every running node accepts an MQTT 3.1.1 session and stores a retained QoS 1 message (JetStream is up). */
  async ready(timeoutMs = 90_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (const [i, n] of this.nodes.entries()) {
      if (!n.proc) continue;
      for (;;) {
        if (n.proc.exitCode !== null) throw new Error(`nats-server ${n.name} exited: ${n.log.slice(-2000)}`);
        try {
          // allowRetries false: otherwise a CONNECT that times out leaves connectAsync pending forever.
          const c = await mqtt.connectAsync(this.mqttUrl(i), { protocolVersion: 4, reconnectPeriod: 0, connectTimeout: 3000, clientId: `ready-${n.name}` }, false);
          await c.publishAsync(`airssys-test/ready/${n.name}`, 'ok', { qos: 1, retain: true });
          await c.endAsync();
          break;
        } catch {
          if (Date.now() > deadline) throw new Error(`nats-server ${n.name} did not serve MQTT: ${n.log.slice(-2000)}`);
          await sleep(250);
        }
      }
    }
  }

  /** Stops node i (SIGKILL by default: a node that dies, not one that leaves politely). */
  async stop(i: number, signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    const proc = this.nodes[i]!.proc;
    this.nodes[i]!.proc = undefined;
    if (!proc || proc.exitCode !== null) return;
    const exited = new Promise((r) => proc.once('exit', r));
    proc.kill(signal);
    await exited;
  }

  async dispose(): Promise<void> {
    for (let i = 0; i < this.nodes.length; i++) await this.stop(i, 'SIGTERM');
    // NATS_KEEP_LOGS=DIR keeps each node's log (the cluster's own folder is removed).
    const keep = process.env.NATS_KEEP_LOGS;
    if (keep) for (const n of this.nodes) writeFileSync(join(keep, `${n.name}.log`), n.log);
    rmSync(this.dir, { recursive: true, force: true });
  }
}
