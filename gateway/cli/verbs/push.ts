import { readdir, readFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { GatewayError } from '../../../runtime/errors.js';
import { flagInt, flagString, parseArgs, requireFlag } from '../args.js';
import type { CliIo, Verb } from '../io.js';
import { artifactTopic } from '../../ota/chunks.js';
import { connectBroker } from '../../ota/connect.js';
import { cliCredentials } from '../broker-flags.js';
import { parseEnvelopeShape, sha256Hex, type Envelope } from '../../ota/envelope.js';
import { publishAsync, subscribeAsync } from '../../ota/mqtt-port.js';
import { FINAL_PHASES, isPhase } from '../../ota/reasons.js';
import { groupOtaTopic, otaTopic, type OtaStatus } from '../../ota/updater.js';
import { envelopeFromFlags } from './sign.js';

const USAGE =
  'airssys push FILE.wasm|RELEASE.json --broker URL (--gateway ID | --group G) [--key K.key --manifest M.yaml] [--wasm FILE.wasm] [--timeout SECONDS] [--prefix airssys] [--expires 30d] [--target T]... [--chunk-size N]';

/** A progress line: a bar on a terminal, a plain line every 10 % otherwise. */
class ProgressView {
  private lastPlain = -1;
  private open = false;
  constructor(private readonly io: CliIo) {}
  bar(label: string, done: number, total: number): void {
    const frac = total === 0 ? 1 : done / total;
    if (this.io.tty) {
      const width = 30;
      const fill = Math.round(frac * width);
      this.io.tty.write(`\r${label} [${'#'.repeat(fill)}${'.'.repeat(width - fill)}] ${done}/${total}\x1b[K`);
      this.open = true;
      if (done === total) this.end();
    } else {
      const step = Math.floor(frac * 10);
      if (step !== this.lastPlain) {
        this.lastPlain = step;
        this.io.err(`${label} ${done}/${total}`);
      }
    }
  }
  line(text: string): void {
    if (this.io.tty) {
      this.io.tty.write(`\r${text}\x1b[K`);
      this.open = true;
    } else this.io.err(text);
  }
  end(): void {
    if (this.open && this.io.tty) this.io.tty.write('\n');
    this.open = false;
    this.lastPlain = -1;
  }
}

async function findComponentBytes(releasePath: string, sha256: string, explicit: string | undefined): Promise<Uint8Array> {
  const candidates: string[] = [];
  if (explicit) candidates.push(explicit);
  else {
    const dir = dirname(releasePath);
    candidates.push(join(dir, basename(releasePath).replace(/\.json$/i, '') + '.wasm'));
    try {
      for (const f of await readdir(dir)) if (f.endsWith('.wasm')) candidates.push(join(dir, f));
    } catch {
      /* the release's directory is unreadable: only --wasm can help */
    }
  }
  for (const c of candidates) {
    try {
      const bytes = new Uint8Array(await readFile(c));
      if (sha256Hex(bytes) === sha256) return bytes;
      if (explicit) throw new GatewayError('BAD_FILE', `${c} does not match the release (sha256 ${sha256Hex(bytes)}, release says ${sha256}); pass the component the release was signed for`);
    } catch (err) {
      if (err instanceof GatewayError) throw err;
      if (explicit) throw new GatewayError('BAD_FILE', `cannot read ${c}; check --wasm`);
    }
  }
  throw new GatewayError('BAD_FILE', `no component with sha256 ${sha256.slice(0, 16)}… next to ${releasePath}; pass it with --wasm FILE.wasm`);
}

async function loadRelease(file: string, args: ReturnType<typeof parseArgs>): Promise<{ envelope: Envelope; bytes: Uint8Array; payload: Buffer }> {
  if (/\.json$/i.test(file)) {
    let raw: unknown;
    try {
      raw = JSON.parse(await readFile(file, 'utf8'));
    } catch (err) {
      throw new GatewayError('BAD_FILE', `cannot read release ${file} (${(err as Error).message.split('\n')[0]}); write one with \`airssys sign\``);
    }
    let envelope: Envelope;
    try {
      envelope = parseEnvelopeShape(raw);
    } catch (err) {
      throw new GatewayError('BAD_FILE', `release ${file} is malformed: ${(err as Error).message}; write it again with \`airssys sign\``);
    }
    const bytes = await findComponentBytes(file, envelope.manifest.sha256, flagString(args, 'wasm'));
    // Publish what was signed, compactly: the same file always gives the same bytes (idempotent re-push).
    return { envelope, bytes, payload: Buffer.from(JSON.stringify(raw)) };
  }
  const { envelope, bytes } = await envelopeFromFlags(file, args, USAGE);
  return { envelope, bytes, payload: Buffer.from(JSON.stringify(envelope)) };
}

export const run: Verb = async (argv, io) => {
  const args = parseArgs(argv, {
    usage: USAGE,
    values: ['broker', 'gateway', 'group', 'key', 'manifest', 'wasm', 'timeout', 'prefix', 'expires', 'target', 'targets', 'chunk-size', 'username', 'password', 'ca', 'settle'],
    repeatable: ['key', 'target'],
    aliases: { m: 'manifest', k: 'key', b: 'broker', g: 'gateway' },
  });
  const [file, ...extra] = args.positionals;
  if (!file || extra.length) throw new GatewayError('USAGE', `give exactly one FILE.wasm or RELEASE.json; usage: ${USAGE}`);
  const url = requireFlag(args, 'broker', USAGE);
  const gateway = flagString(args, 'gateway');
  const group = flagString(args, 'group');
  if ((gateway === undefined) === (group === undefined)) throw new GatewayError('USAGE', `give one of --gateway ID or --group G; usage: ${USAGE}`);
  const prefix = flagString(args, 'prefix') ?? 'airssys';
  const timeoutMs = (flagInt(args, 'timeout', USAGE) ?? 120) * 1000;
  const settleMs = (flagInt(args, 'settle', USAGE) ?? 5) * 1000;

  const { envelope, bytes, payload } = await loadRelease(file, args);
  const m = envelope.manifest;
  const envSha = sha256Hex(payload);
  const view = new ProgressView(io);

  const { port: client, close } = await connectBroker(url, cliCredentials(args));
  try {
    const statusFilter = `${prefix}/gw/${gateway ?? '+'}/ota/${m.component}/status`;
    const seen = new Map<string, OtaStatus>();
    let wake: () => void = () => undefined;
    let lastChange = Date.now();
    client.on('message', (topic, msg, packet) => {
      const parts = topic.split('/');
      const gw = parts[parts.length - 4]!;
      let s: OtaStatus;
      try {
        s = JSON.parse(msg.toString()) as OtaStatus;
      } catch {
        return;
      }
      if (!isPhase(s.phase)) return;
      // A status is ours when it names our envelope. A retained one from before this push counts
      // only if it is final (the gateway already decided this exact release and will not redo it).
      const ours = s.envelope ? s.envelope === envSha : s.version === m.version && !packet?.retain;
      if (!ours || (packet?.retain && !FINAL_PHASES.includes(s.phase))) return;
      const prev = seen.get(gw);
      if (prev && prev.phase === s.phase && prev.detail === s.detail) return;
      seen.set(gw, s);
      lastChange = Date.now();
      const already = packet?.retain ? ' (already decided earlier)' : '';
      view.line(`${gw}: ${s.phase}${s.reason ? ` ${s.reason}` : ''}${s.detail ? ` — ${s.detail}` : ''}${already}`);
      if (FINAL_PHASES.includes(s.phase)) view.end();
      wake();
    });
    await subscribeAsync(client, statusFilter, 1);

    io.err(`pushing ${m.component} ${m.version} (${m.size} bytes, ${m.chunks} chunk(s), sha256 ${m.sha256.slice(0, 16)}…) to ${gateway ? `gateway ${gateway}` : `group ${group}`}`);
    // Chunks first, retained, a few in flight at a time; the envelope only once they are all there.
    let sent = 0;
    const window = 8;
    let next = 0;
    const worker = async () => {
      while (next < m.chunks) {
        const i = next++;
        await publishAsync(client, artifactTopic(prefix, m.sha256, i), Buffer.from(bytes.subarray(i * m.chunkSize, Math.min(m.size, (i + 1) * m.chunkSize))), { qos: 1, retain: true });
        view.bar('chunks', ++sent, m.chunks);
      }
    };
    await Promise.all(Array.from({ length: Math.min(window, m.chunks) }, worker));
    view.end();
    const target = gateway ? otaTopic(prefix, gateway, m.component) : groupOtaTopic(prefix, group!, m.component);
    await publishAsync(client, target, payload, { qos: 1, retain: true });
    io.err(`envelope published on ${target}; waiting for the gateway${group ? 's' : ''} (timeout ${timeoutMs / 1000} s)`);

    const deadline = Date.now() + timeoutMs;
    const finished = () => {
      if (seen.size === 0) return false;
      const allFinal = [...seen.values()].every((s) => FINAL_PHASES.includes(s.phase));
      if (gateway) return allFinal;
      return allFinal && Date.now() - lastChange >= settleMs;
    };
    while (!finished() && Date.now() < deadline) {
      await new Promise<void>((r) => {
        wake = r;
        setTimeout(r, Math.min(250, Math.max(0, deadline - Date.now())));
      });
    }
    view.end();
    if (seen.size === 0 || ![...seen.values()].every((s) => FINAL_PHASES.includes(s.phase))) {
      const where = [...seen].map(([gw, s]) => `${gw} at ${s.phase}`).join(', ');
      io.err(`error: timeout after ${timeoutMs / 1000} s: ${where || 'no gateway reported on this release'}; check the gateway is online and subscribed, or raise --timeout`);
      return 1;
    }
    let failed = 0;
    for (const [gw, s] of seen) {
      const ok = s.phase === 'committed';
      if (!ok) failed++;
      io.out(`${gw}: ${s.phase}${s.reason ? ` (${s.reason})` : ''}${!ok && s.detail ? `: ${s.detail}` : ''}`);
    }
    if (failed) {
      const reasons = [...new Set([...seen.values()].filter((s) => s.phase !== 'committed').map((s) => `${s.phase} ${s.reason}`.trim()))];
      io.err(`error: ${failed} of ${seen.size} gateway(s) did not commit ${m.component} ${m.version}: ${reasons.join(', ')}`);
      return 1;
    }
    return 0;
  } finally {
    await close();
  }
};

