import { GatewayError } from '../../../runtime/errors.js';
import { flagInt, flagString, type ParsedArgs } from '../args.js';
import type { Verb } from '../io.js';
import { connectBroker } from '../../ota/connect.js';
import { BROKER_FLAGS, brokerUrl, cliCredentials, PREFIX_FLAG } from '../broker-flags.js';
import { readInventory, resolveTarget } from '../../fleet/inventory.js';
import { INTERRUPTED_EXIT, trapInterrupt } from '../interrupt.js';
import { ProgressView } from '../progress.js';
import { parseVerbArgs, usageError, usageLine, type VerbSpec } from '../spec.js';
import { sha256Hex } from '../../ota/envelope.js';
import { publishAsync, subscribeAsync } from '../../ota/mqtt-port.js';
import { FINAL_PHASES, isPhase } from '../../ota/reasons.js';
import { groupOtaTopic, otaTopic, type OtaStatus } from '../../ota/updater.js';
import { envelopeFromFlags, RELEASE_FLAGS } from './sign.js';
import { publishChunks, readReleaseFile, type LoadedRelease } from '../release-io.js';

export const spec: VerbSpec = {
  name: 'push',
  summary: 'publish a release over MQTT and follow it to committed',
  usage: 'push FILE.wasm|RELEASE.json --broker URL (--gateway ID | --group G) [--key K.key --manifest M.yaml] [options]',
  about:
    'Checks that the target has reported to the broker (a gateway or group nobody knows fails at once, listing the gateways that exist), ' +
    'publishes the chunks and then the envelope (retained), and prints each phase the gateways report, once, with a countdown during probation. ' +
    'A .wasm is signed in memory with --key and --manifest; a RELEASE.json finds its .wasm next to it by sha256, or takes --wasm. ' +
    'On failure, timeout or Ctrl-C the retained envelope is cleared, so no gateway picks up a failed release later; after a success it stays, for gateways that reconnect.',
  flags: [
    ...BROKER_FLAGS,
    { name: 'gateway', short: 'g', arg: 'ID', about: 'send to this gateway' },
    { name: 'group', arg: 'G', about: 'send to every gateway in group G' },
    { name: 'wasm', arg: 'FILE.wasm', about: 'the component a RELEASE.json was signed for (default: found next to it)' },
    ...RELEASE_FLAGS,
    { name: 'timeout', arg: 'SECONDS', about: 'give up waiting for the gateways after this long (default 120)' },
    { name: 'settle', arg: 'SECONDS', about: 'with --group: how long no new gateway may report before the result is final (default 5)' },
    PREFIX_FLAG,
  ],
  examples: [
    'airssys push thermo.wasm --key keys/ota.key --manifest thermo.yaml --broker 127.0.0.1:1883 --gateway gw-1',
    'airssys push thermo-1.1.0.json --broker mqtts://broker.lan:8883 --ca ca.pem --group lab',
  ],
  exits: '0 every gateway committed, 1 a gateway rejected or rolled back the release, the wait timed out, or the broker is unreachable, 2 invalid arguments or a target no gateway has reported for, 130 interrupted',
};

async function loadRelease(file: string, args: ParsedArgs): Promise<LoadedRelease> {
  if (/\.json$/i.test(file)) return readReleaseFile(file, flagString(args, 'wasm'));
  const { envelope, bytes } = await envelopeFromFlags(file, args, usageLine(spec));
  return { envelope, bytes, payload: Buffer.from(JSON.stringify(envelope)) };
}

/** `probation` details read `<ms> ms, up to <n> errors` (updater.ts): the window to count down. */
const probationMs = (detail: string): number | undefined => {
  const m = /^(\d+) ms\b/.exec(detail);
  return m ? Number(m[1]) : undefined;
};

export const run: Verb = async (argv, io) => {
  const args = parseVerbArgs(argv, spec);
  const [file, ...extra] = args.positionals;
  if (!file || extra.length) throw usageError(spec, 'give exactly one FILE.wasm or RELEASE.json');
  const url = brokerUrl(args, usageLine(spec));
  const gateway = flagString(args, 'gateway');
  const group = flagString(args, 'group');
  if ((gateway === undefined) === (group === undefined)) throw usageError(spec, 'give one of --gateway ID or --group G');
  const prefix = flagString(args, 'prefix') ?? 'airssys';
  const timeoutMs = (flagInt(args, 'timeout', usageLine(spec)) ?? 120) * 1000;
  const settleMs = (flagInt(args, 'settle', usageLine(spec)) ?? 5) * 1000;

  const { envelope, bytes, payload } = await loadRelease(file, args);
  const m = envelope.manifest;
  const envSha = sha256Hex(payload);
  const view = new ProgressView(io);

  const { port: client, close } = await connectBroker(url, cliCredentials(args));
  const interrupt = trapInterrupt();
  /** Set once the envelope is retained on the broker; cleared again unless every gateway committed. */
  let envelopeTopic: string | undefined;
  let committed = false;
  let countdown: ReturnType<typeof setInterval> | undefined;
  try {
    // Nothing is published for a target no gateway ever reported for: a typo fails here, in seconds.
    const known = await readInventory(client, { prefix, maxMs: 2000, ...(gateway ? { enough: (k) => k.has(gateway) } : {}) });
    const target = resolveTarget(known, gateway ? { gateway } : { group: group! }, { broker: url, prefix });
    for (const note of target.notes) io.err(`note: ${note}`);

    const statusFilter = `${prefix}/gw/${gateway ?? '+'}/ota/${m.component}/status`;
    const seen = new Map<string, OtaStatus>();
    const probationEnds = new Map<string, number>();
    let wake: () => void = () => undefined;
    let lastChange = Date.now();
    const countdownBucket = new Map<string, number>();
    const renderCountdown = () => {
      const now = Date.now();
      const left = [...probationEnds].filter(([gw]) => seen.get(gw)?.phase === 'probation').map(([gw, end]) => [gw, Math.max(0, Math.ceil((end - now) / 1000))] as const);
      if (left.length === 0) return;
      if (io.tty) {
        // On a terminal one line, redrawn every second.
        view.transient(left.length === 1 ? `${left[0]![0]}: probation: ${left[0]![1]} s left` : `probation: ${left.map(([gw, s]) => `${gw} ${s} s`).join(', ')} left`);
        return;
      }
      // In a log: the window when it starts, then a line per 10 s gone by.
      for (const [gw, s] of left) {
        const bucket = Math.ceil(s / 10);
        if (s === 0 || countdownBucket.get(gw) === bucket) continue;
        countdownBucket.set(gw, bucket);
        view.status(`${gw}: probation: ${s} s left`);
      }
    };
    client.on('message', (topic, msg, packet) => {
      if (!topic.endsWith(`/ota/${m.component}/status`)) return;
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
      if (prev && prev.phase === s.phase && prev.detail === s.detail) return; // a redelivery
      if (prev && FINAL_PHASES.includes(prev.phase)) return; // decided; later echoes change nothing
      seen.set(gw, s);
      lastChange = Date.now();
      if (FINAL_PHASES.includes(s.phase)) {
        // The outcome is printed once, on stdout, when the push ends; here only what is new.
        if (packet?.retain) view.status(`${gw}: already decided earlier (${s.phase}${s.reason ? ` ${s.reason}` : ''})`);
      } else if (s.phase === 'downloading') {
        const c = /^(\d+)\/(\d+) chunks/.exec(s.detail);
        if (c) view.bar(`${gw}: downloading`, Number(c[1]), Number(c[2]));
        else view.status(`${gw}: downloading`);
      } else if (s.phase === 'probation') {
        view.status(`${gw}: probation${s.detail ? ` (${s.detail})` : ''}`);
        const ms = probationMs(s.detail);
        if (ms !== undefined) probationEnds.set(gw, Date.now() + ms);
        renderCountdown();
      } else {
        view.status(`${gw}: ${s.phase}${s.detail ? ` (${s.detail})` : ''}`);
      }
      wake();
    });
    await subscribeAsync(client, statusFilter, 1);

    io.err(`pushing ${m.component} ${m.version} (${m.size} bytes, ${m.chunks} chunk(s), sha256 ${m.sha256.slice(0, 16)}…) to ${gateway ? `gateway ${gateway}` : `group ${group} (${target.ids.length} known gateway(s))`}`);
    // Chunks first, retained; the envelope only once they are all there (Ctrl-C stops between chunks).
    await publishChunks(client, prefix, envelope, bytes, (sent, total) => view.bar('chunks', sent, total), interrupt.signal);
    view.end();
    if (interrupt.signal.aborted) {
      io.err(`error: interrupted before the envelope was published; no gateway got the release (the chunks sent stay retained: \`airssys artifacts rm ${m.sha256}\` clears them)`);
      return INTERRUPTED_EXIT;
    }
    const topic = gateway ? otaTopic(prefix, gateway, m.component) : groupOtaTopic(prefix, group!, m.component);
    envelopeTopic = topic;
    await publishAsync(client, topic, payload, { qos: 1, retain: true });
    io.err(`envelope published on ${topic}; waiting for the gateway${group ? 's' : ''} (timeout ${timeoutMs / 1000} s)`);
    countdown = setInterval(renderCountdown, 1000);

    const deadline = Date.now() + timeoutMs;
    const finished = () => {
      if (seen.size === 0) return false;
      const allFinal = [...seen.values()].every((s) => FINAL_PHASES.includes(s.phase));
      if (gateway) return allFinal;
      // Every known member decided: done. Otherwise wait until no new gateway has reported for a while.
      if (allFinal && target.ids.every((id) => seen.has(id))) return true;
      return allFinal && Date.now() - lastChange >= settleMs;
    };
    const onAbort = () => wake();
    interrupt.signal.addEventListener('abort', onAbort);
    while (!finished() && Date.now() < deadline && !interrupt.signal.aborted) {
      await new Promise<void>((r) => {
        wake = r;
        setTimeout(r, Math.min(250, Math.max(0, deadline - Date.now())));
      });
    }
    interrupt.signal.removeEventListener('abort', onAbort);
    clearInterval(countdown);
    view.end();
    const where = () => [...seen].map(([gw, s]) => `${gw} at ${s.phase}`).join(', ');
    if (interrupt.signal.aborted) {
      io.err(`error: interrupted (${where() || 'no gateway had reported yet'}); the retained envelope is cleared, gateways already working on the release carry on (see \`airssys status\`)`);
      return INTERRUPTED_EXIT;
    }
    if (seen.size === 0 || ![...seen.values()].every((s) => FINAL_PHASES.includes(s.phase))) {
      io.err(`error: timeout after ${timeoutMs / 1000} s: ${where() || 'no gateway reported on this release'}; check the gateway is online and subscribed, or raise --timeout`);
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
    committed = true;
    return 0;
  } finally {
    clearInterval(countdown);
    // A failed release must not stay retained: a gateway that (re)connects later would take it.
    // (The signal trap stays until this is done: a second Ctrl-C exits at once, the first one waits.)
    if (envelopeTopic && !committed) {
      try {
        await publishAsync(client, envelopeTopic, Buffer.alloc(0), { qos: 1, retain: true });
      } catch {
        io.err(`warning: could not clear the retained envelope on ${envelopeTopic}; clear it with an empty retained publish`);
      }
    }
    interrupt.dispose();
    await close();
  }
};
