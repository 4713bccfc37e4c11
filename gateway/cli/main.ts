import { GatewayError } from '../../runtime/errors.js';
import { processIo, type CliIo, type Verb } from './io.js';

/**
 * `airssys <verb> ...`. Each verb lives in `verbs/<verb>.ts` and exports `run: Verb`; it is imported
 * only when used, so `airssys inspect` never loads the MQTT client and `start` never loads jco on a
 * warm cache.
 */
const VERBS: Record<string, { summary: string; load: () => Promise<{ run: Verb }> }> = {
  start: { summary: 'run the gateway (default config/gateway.yaml)', load: () => import('./verbs/start.js') },
  keygen: { summary: 'write PREFIX.key and PREFIX.pub (Ed25519 PEM)', load: () => import('./verbs/keygen.js') },
  build: { summary: 'build a component from .wat or AssemblyScript .ts', load: () => import('./verbs/build.js') },
  inspect: { summary: 'world, imports, exports, size, sha256 of a component', load: () => import('./verbs/inspect.js') },
  run: { summary: 'run one component on a simulated board', load: () => import('./verbs/run.js') },
  sign: { summary: 'write a signed OTA release envelope', load: () => import('./verbs/sign.js') },
  push: { summary: 'publish a release over MQTT and follow it to committed', load: () => import('./verbs/push.js') },
  status: { summary: 'gateways, components, versions, states', load: () => import('./verbs/status.js') },
  telemetry: { summary: 'tail telemetry', load: () => import('./verbs/telemetry.js') },
  artifacts: { summary: 'remove retained OTA artifacts from a broker (artifacts rm)', load: () => import('./verbs/artifacts.js') },
  new: { summary: 'scaffold a component project', load: () => import('./verbs/new.js') },
  rollout: { summary: 'send a release to a fleet in waves; rollout status|resume ID', load: () => import('./verbs/rollout.js') },
  fleet: { summary: 'the fleet as the broker knows it (fleet ls)', load: () => import('./verbs/fleet.js') },
  'fleet-sim': { summary: 'run N simulated gateways in one process', load: () => import('./verbs/fleet-sim.js') },
  'broker-creds': { summary: 'per-gateway (or operator) broker password and ACL for Mosquitto', load: () => import('./verbs/broker-creds.js') },
  doctor: { summary: 'check this machine for running the gateway', load: () => import('./verbs/doctor.js') },
};

function usage(io: CliIo): void {
  io.out('usage: airssys <verb> [options]');
  for (const [name, v] of Object.entries(VERBS)) io.out(`  ${name.padEnd(10)} ${v.summary}`);
}

export async function main(argv: string[], io: CliIo = processIo): Promise<number> {
  const [verb, ...rest] = argv;
  if (!verb || verb === '--help' || verb === '-h' || verb === 'help') {
    usage(io);
    return verb ? 0 : 1;
  }
  const entry = VERBS[verb];
  if (!entry) {
    io.err(`error: unknown command "${verb}"; run \`airssys help\` for the list`);
    return 1;
  }
  try {
    const mod = await entry.load();
    return await mod.run(rest, io);
  } catch (err) {
    io.err(`error: ${describe(err)}`);
    if (process.env.AIRSSYS_DEBUG && err instanceof Error) io.err(err.stack ?? '');
    return err instanceof GatewayError && err.code === 'LOAD_FAILED' ? 2 : 1;
  }
}

/** One line for any error: GatewayErrors carry their own fix; anything else is a bug worth reporting. */
export function describe(err: unknown): string {
  if (err instanceof GatewayError) return err.message;
  if (err instanceof Error) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return `${err.message.replace(/^ENOENT: /, '')}; check the path`;
    return `${err.message.split('\n')[0]} (unexpected; rerun with AIRSSYS_DEBUG=1 and report it)`;
  }
  return String(err);
}

const invokedDirectly = process.argv[1] && /[\\/]cli[\\/]main\.(ts|js)$/.test(process.argv[1]);
if (invokedDirectly || process.argv[1]?.endsWith('airssys.mjs') || process.argv[1]?.endsWith('airssys')) {
  main(process.argv.slice(2)).then(
    (code) => process.exitCode = code,
    (err) => {
      process.stderr.write(`error: ${describe(err)}\n`);
      process.exitCode = 1;
    },
  );
}
