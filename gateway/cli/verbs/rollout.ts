import { GatewayError } from '../../../runtime/errors.js';
import { connectCli } from '../../mqtt/client.js';
import type { MqttConnection } from '../../mqtt/connection.js';
import { reconnectCli } from '../../fleet/reconnect.js';
import { byId, readInventory } from '../../fleet/inventory.js';
import {
  formatLimit,
  newRolloutId,
  parseMaxFailures,
  parseRolloutState,
  parseWaves,
  ROLLOUT_ID_RE,
  rolloutTopic,
  summarize,
  waveSizes,
  type RolloutState,
} from '../../fleet/plan.js';
import { runRollout, type RolloutEvent } from '../../fleet/rollout.js';
import { connectionPort } from '../../ota/connection-port.js';
import { sha256Hex } from '../../ota/envelope.js';
import { flagInt, flagString, requireFlag, type ParsedArgs } from '../args.js';
import { BROKER_FLAGS, brokerUrl, cliCredentials, PREFIX_FLAG } from '../broker-flags.js';
import { parseVerbArgs, usageLine, type VerbSpec } from '../spec.js';
import type { CliIo, Verb } from '../io.js';
import { ProgressView } from '../progress.js';
import { publishChunks, readReleaseFile } from '../release-io.js';

export const DEFAULT_WAVE_TIMEOUT_S = 300;

export const spec: VerbSpec = {
  name: 'rollout',
  summary: 'send a release to a fleet in waves, stopping by itself when too many fail; rollout status|resume ID',
  usage: 'rollout RELEASE.json [--wasm FILE.wasm] --broker URL (--group G | --gateway ID [--gateway ID …]) --waves LIST --max-failures N|P% [--wave-timeout SECONDS] [--json]',
  forms: ['rollout status ID --broker URL [--json]', 'rollout resume ID --broker URL [--json]'],
  about: 'Targets are fixed at the start (the online gateways of --group, or the --gateway list) and kept in the rollout\'s retained plan; the first line printed is `rollout <id>`. After each wave the failures so far are compared with --max-failures: within it the next wave goes out, past it the rollout is aborted. `rollout status ID` reads the retained state from any machine; `rollout resume ID` continues one whose CLI died.',
  flags: [
    ...BROKER_FLAGS,
    { name: 'wasm', arg: 'FILE.wasm', about: 'the component the release was signed for (default: the .wasm beside RELEASE.json with its sha256)' },
    { name: 'group', arg: 'G', about: 'targets: the online gateways whose retained state lists this group' },
    { name: 'gateway', short: 'g', arg: 'ID', repeatable: true, about: 'targets: these gateways (offline ones are left out)' },
    { name: 'waves', arg: 'LIST', about: 'cumulative percentages of the targets ending in 100, e.g. 1,10,100' },
    { name: 'max-failures', arg: 'N|P%', about: 'abort past this many failures: a count, or a percentage of the gateways sent to so far (20%)' },
    { name: 'wave-timeout', arg: 'SECONDS', about: `seconds a wave waits for its gateways to commit or fail (default ${DEFAULT_WAVE_TIMEOUT_S}); one still silent then counts as failed` },
    { name: 'json', about: 'last line: the {"rollout":{…}} summary' },
    PREFIX_FLAG,
  ],
  examples: ['airssys rollout thermo-1.1.0.json --broker mqtt://broker:1883 --group lab --waves 1,10,100 --max-failures 20%', 'airssys rollout status thermo-1.1.0-8f2c1a --broker mqtt://broker:1883'],
  exits: '0 completed, 1 aborted, 2 invalid input',
};
const USAGE = usageLine(spec);

/** Input errors: one line, exit 2, and nothing was sent. */
class InputError extends Error {}

/**
 * `airssys rollout`: exit 0 completed, 1 aborted, 2 invalid input (and for a broker that cannot be
 * reached before anything was sent). See gateway/fleet/rollout.ts for the semantics.
 */
export const run: Verb = async (argv, io) => {
  let args: ParsedArgs;
  try {
    args = parseVerbArgs(argv, spec);
  } catch (err) {
    return inputError(io, err);
  }
  const [first, ...rest] = args.positionals;
  if (first === 'status' || first === 'resume') return existing(first, rest, args, io);
  let planned: { conn: MqttConnection; state: RolloutState; prefix: string };
  try {
    planned = await plan(args, io);
  } catch (err) {
    return inputError(io, err);
  }
  const { conn, state, prefix } = planned;
  try {
    io.out(`rollout ${state.id}`);
    io.err(`rolling out ${state.component} ${state.version} to ${state.targets.length} gateway(s) in ${state.sizes.length} wave(s) (${state.sizes.join(', ')}); max failures ${state.maxFailures}, wave timeout ${state.waveTimeoutS} s`);
    return await follow(conn, prefix, state, args, io);
  } finally {
    await conn.stop({ farewell: false });
  }
};

function inputError(io: CliIo, err: unknown): number {
  io.err(`error: ${err instanceof Error ? err.message : String(err)}`);
  return 2;
}

/** Validates everything and fixes the targets; throws (nothing sent) on any bad input. */
async function plan(args: ParsedArgs, io: CliIo): Promise<{ conn: MqttConnection; state: RolloutState; prefix: string }> {
  const [file, ...extra] = args.positionals;
  if (!file || extra.length) throw new InputError(`give exactly one RELEASE.json; usage: ${USAGE}`);
  if (!/\.json$/i.test(file)) throw new InputError(`${file} is not a release: rollout sends a signed RELEASE.json (write one with \`airssys sign\`)`);
  const url = brokerUrl(args, USAGE);
  const group = flagString(args, 'group');
  const gw = args.flags.gateway;
  const gateways = Array.isArray(gw) ? gw : [];
  if ((group === undefined) === (gateways.length === 0)) throw new InputError(`give --group G or one or more --gateway ID (not both); usage: ${USAGE}`);
  const percentages = parseWaves(requireFlag(args, 'waves', USAGE));
  const limit = parseMaxFailures(requireFlag(args, 'max-failures', USAGE));
  const waveTimeoutS = flagInt(args, 'wave-timeout', USAGE) ?? DEFAULT_WAVE_TIMEOUT_S;
  if (waveTimeoutS < 1) throw new InputError(`--wave-timeout must be at least 1 second; usage: ${USAGE}`);
  const prefix = flagString(args, 'prefix') ?? 'airssys';
  const release = await readReleaseFile(file, flagString(args, 'wasm'));
  const m = release.envelope.manifest;

  const conn = await connectCli(url, cliCredentials(args));
  try {
    const port = connectionPort(conn);
    const fleet = await readInventory(port, { prefix });
    let targets: string[];
    if (group !== undefined) {
      const inGroup = [...fleet.values()].filter((g) => g.groups.includes(group));
      if (inGroup.length === 0) throw new InputError(`unknown group ${JSON.stringify(group)}: no gateway on ${url} lists it in its retained state; check --group (see \`airssys fleet ls --broker ${url}\`)`);
      targets = inGroup.filter((g) => g.online).map((g) => g.id);
      if (targets.length === 0) throw new InputError(`no online targets: the ${inGroup.length} gateway(s) of group ${group} are all offline; bring them online or choose another group`);
    } else {
      const unknown = gateways.filter((id) => !fleet.has(id));
      if (unknown.length) throw new InputError(`unknown gateway ${unknown.join(', ')}: no retained state on ${url}; check --gateway (see \`airssys fleet ls --broker ${url}\`)`);
      targets = [...new Set(gateways)].filter((id) => fleet.get(id)!.online);
      const offline = gateways.filter((id) => !fleet.get(id)!.online);
      if (targets.length === 0) throw new InputError(`no online targets: ${offline.join(', ')} ${offline.length > 1 ? 'are' : 'is'} offline; bring them online or choose others`);
      if (offline.length) io.err(`warning: left out (offline): ${offline.join(', ')}`);
    }
    targets.sort(byId);
    const now = Date.now();
    const state: RolloutState = {
      id: newRolloutId(m.component, m.version),
      state: 'running',
      component: m.component,
      version: m.version,
      envelopeSha256: sha256Hex(release.payload),
      envelope: release.payload.toString('utf8'),
      selector: group !== undefined ? { group } : { gateways: targets },
      targets,
      percentages,
      sizes: waveSizes(percentages, targets.length),
      maxFailures: formatLimit(limit),
      waveTimeoutS,
      wave: 0,
      sent: [],
      results: {},
      startedAt: now,
      updatedAt: now,
    };
    // The chunks are retained and addressed by content: sending them before any envelope (and
    // before the plan exists) means a resume on another machine needs nothing but the broker.
    await publishChunks(port, prefix, release.envelope, release.bytes);
    return { conn, state, prefix };
  } catch (err) {
    await conn.stop({ farewell: false });
    throw err;
  }
}

/** Runs (or resumes) the rollout with progress; prints the outcome; returns the exit code. */
async function follow(conn: MqttConnection, prefix: string, state: RolloutState, args: ParsedArgs, io: CliIo): Promise<number> {
  const view = new ProgressView(io);
  const onEvent = (e: RolloutEvent) => {
    switch (e.type) {
      case 'wave-start':
        view.line(`wave ${e.wave}/${e.waves}: sending to ${e.sending} of ${e.size} gateway(s)`);
        break;
      case 'progress':
        // On a terminal one line per wave, updated in place; in a log only the wave's start and end.
        if (io.tty) view.line(`wave ${e.wave}/${e.waves}: ${e.size} gateway(s): ${e.committed} committed, ${e.failed} failed, ${e.pending} pending`);
        break;
      case 'wave-end':
        view.line(`wave ${e.wave}/${e.waves}: ${e.size} gateway(s): ${e.committed} committed, ${e.failed} failed${e.timedOut ? ` (${e.timedOut} timed out)` : ''}`);
        view.end();
        break;
      case 'aborted':
        view.end();
        io.err(`aborted: ${e.reason}; nothing more was sent`);
        break;
      case 'completed':
        view.end();
        break;
    }
  };
  let final: RolloutState;
  let current = conn;
  try {
    for (;;) {
      try {
        final = await runRollout({ conn: current, prefix, state, onEvent });
        break;
      } catch (err) {
        view.end();
        // A broker (or cluster node) that drops the CLI mid-rollout: reconnect and resume from the
        // retained state, exactly as `rollout resume` would, for up to RECONNECT_WINDOW_MS.
        const resumed = current.connected ? undefined : await reconnectCli(requireFlag(args, 'broker', USAGE), cliCredentials(args), io, (c) => readState(c, prefix, state.id));
        if (resumed) {
          if (current !== conn) await current.stop({ farewell: false }).catch(() => undefined);
          current = resumed.conn;
          state = resumed.state;
          io.err(`reconnected; resuming rollout ${state.id} at wave ${state.wave + 1}/${state.sizes.length}`);
          if (state.state !== 'running') {
            final = state;
            break;
          }
          continue;
        }
        // The plan and progress so far are retained on the broker: the rollout is not lost with the CLI.
        throw new GatewayError('ROLLOUT_INTERRUPTED', `rollout ${state.id} interrupted at wave ${state.wave + 1}/${state.sizes.length} (${err instanceof Error ? err.message : String(err)}); continue it with \`airssys rollout resume ${state.id} --broker URL\``);
      }
    }
  } finally {
    if (current !== conn) await current.stop({ farewell: false }).catch(() => undefined);
  }
  report(final, args, io);
  return final.state === 'completed' ? 0 : 1;
}

function report(state: RolloutState, args: ParsedArgs, io: CliIo): void {
  const s = summarize(state);
  if (args.flags.json) io.out(JSON.stringify({ rollout: s }));
  else {
    io.out(`rollout ${s.id} ${s.state}: ${s.targets} target(s), ${s.touched} touched, ${s.committed} committed, ${s.failed} failed`);
    s.waves.forEach((w, i) => io.out(`  wave ${i + 1}: ${w.size} gateway(s), ${w.committed} committed, ${w.failed} failed, ${w.pending} pending`));
    const failures = Object.entries(state.results).filter(([, r]) => r.outcome !== 'committed');
    for (const [gw, r] of failures.slice(0, 20)) io.out(`  ${gw}: ${r.outcome}${r.reason ? ` (${r.reason})` : ''}`);
    if (failures.length > 20) io.out(`  … and ${failures.length - 20} more`);
  }
}

/** `rollout status ID` and `rollout resume ID`. */
async function existing(what: 'status' | 'resume', rest: string[], args: ParsedArgs, io: CliIo): Promise<number> {
  const [id, ...extra] = rest;
  let conn: MqttConnection;
  let state: RolloutState;
  const prefix = flagString(args, 'prefix') ?? 'airssys';
  try {
    if (!id || extra.length) throw new InputError(`give exactly one rollout ID; usage: ${USAGE}`);
    if (!ROLLOUT_ID_RE.test(id)) throw new InputError(`${JSON.stringify(id)} is not a rollout id (it is printed as the first line, \`rollout <id>\`)`);
    const url = brokerUrl(args, USAGE);
    conn = await connectCli(url, cliCredentials(args));
    const found = await readState(conn, prefix, id);
    if (!found) {
      await conn.stop({ farewell: false });
      throw new InputError(`no rollout ${id} on ${url} (no retained ${rolloutTopic(prefix, id)}); check the id, --broker and --prefix`);
    }
    state = found;
  } catch (err) {
    return inputError(io, err);
  }
  try {
    io.out(`rollout ${state.id}`);
    if (what === 'status' || state.state !== 'running') {
      if (what === 'resume') io.err(`rollout ${state.id} already ${state.state}; nothing to resume`);
      report(state, args, io);
      return state.state === 'aborted' ? 1 : 0;
    }
    io.err(`resuming ${state.component} ${state.version} at wave ${state.wave + 1}/${state.sizes.length} (${state.sent.length} of ${state.targets.length} gateway(s) sent to so far)`);
    return await follow(conn, prefix, state, args, io);
  } finally {
    await conn.stop({ farewell: false });
  }
}

async function readState(conn: MqttConnection, prefix: string, id: string): Promise<RolloutState | undefined> {
  const topic = rolloutTopic(prefix, id);
  let found: RolloutState | undefined;
  const onMessage = (t: string, payload: Buffer) => {
    if (t === topic) found = parseRolloutState(payload) ?? found;
  };
  conn.on('message', onMessage);
  try {
    await conn.subscribe(topic, { qos: 1 });
    // A retained message follows the SUBACK at once; a short wait covers a loaded broker.
    const deadline = Date.now() + 2000;
    while (!found && Date.now() < deadline) await new Promise((r) => setTimeout(r, 25));
    await conn.unsubscribe(topic);
  } finally {
    conn.off('message', onMessage);
  }
  return found;
}
