import { GatewayError } from '../../../runtime/errors.js';
import { flagInt, flagString, parseArgs, requireFlag } from '../args.js';
import type { CliIo, Verb } from '../io.js';
import { connectBroker } from '../../ota/connect.js';
import { cliCredentials } from '../broker-flags.js';
import { sha256Hex } from '../../ota/envelope.js';
import { publishAsync, subscribeAsync } from '../../ota/mqtt-port.js';
import { FINAL_PHASES, isPhase } from '../../ota/reasons.js';
import { groupOtaTopic, otaTopic, type OtaStatus } from '../../ota/updater.js';
import { envelopeFromFlags } from './sign.js';
import { ProgressView, publishChunks, readReleaseFile, type LoadedRelease } from '../release-io.js';

const USAGE =
  'airssys push FILE.wasm|RELEASE.json --broker URL (--gateway ID | --group G) [--key K.key --manifest M.yaml] [--wasm FILE.wasm] [--timeout SECONDS] [--prefix airssys] [--expires 30d] [--target T]... [--chunk-size N]';

async function loadRelease(file: string, args: ReturnType<typeof parseArgs>): Promise<LoadedRelease> {
  if (/\.json$/i.test(file)) return readReleaseFile(file, flagString(args, 'wasm'));
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
    // Chunks first, retained; the envelope only once they are all there.
    await publishChunks(client, prefix, envelope, bytes, (sent, total) => view.bar('chunks', sent, total));
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

