import { GatewayError } from '../../runtime/errors.js';
import { processIo, type CliIo } from './io.js';
import { closestName, helpText, wantsHelp, type VerbModule, type VerbSpec } from './spec.js';

/**
 * `airssys <verb> ...`. Each verb lives in `verbs/<verb>.ts` and exports `spec` (its usage, flags,
 * example) and `run`; it is imported only when used, so `airssys inspect` never loads the MQTT
 * client and `start` never loads jco on a warm cache. A new verb is one line here plus its module.
 */
export const VERBS: ReadonlyArray<readonly [string, () => Promise<VerbModule>]> = [
  ['start', () => import('./verbs/start.js')],
  ['keygen', () => import('./verbs/keygen.js')],
  ['new', () => import('./verbs/new.js')],
  ['test', () => import('./verbs/test.js')],
  ['build', () => import('./verbs/build.js')],
  ['inspect', () => import('./verbs/inspect.js')],
  ['run', () => import('./verbs/run.js')],
  ['sign', () => import('./verbs/sign.js')],
  ['push', () => import('./verbs/push.js')],
  ['status', () => import('./verbs/status.js')],
  ['telemetry', () => import('./verbs/telemetry.js')],
  ['artifacts', () => import('./verbs/artifacts.js')],
  ['rollout', () => import('./verbs/rollout.js')],
  ['fleet', () => import('./verbs/fleet.js')],
  ['fleet-sim', () => import('./verbs/fleet-sim.js')],
  ['broker-creds', () => import('./verbs/broker-creds.js')],
  ['doctor', () => import('./verbs/doctor.js')],
  ['storage', () => import('./verbs/storage.js')],
];

/**
 * Invalid input exits 2: bad flags or arguments, an unknown verb, a component that cannot be loaded,
 * a push target no gateway has reported for. Everything else that fails exits 1.
 */
export const USAGE_EXIT = 2;
const INVALID_INPUT = new Set(['USAGE', 'LOAD_FAILED', 'UNKNOWN_TARGET']);

/** Every verb's spec, in the order `airssys --help` lists them. */
export async function allSpecs(): Promise<VerbSpec[]> {
  return Promise.all(VERBS.map(async ([, load]) => (await load()).spec));
}

async function verbList(write: (line: string) => void): Promise<void> {
  const specs = await allSpecs();
  const width = Math.max(...specs.map((s) => s.name.length));
  write('Usage: airssys <verb> [options]');
  write('');
  write('Verbs:');
  for (const s of specs) write(`  ${s.name.padEnd(width)}  ${s.summary}`);
  write('');
  write('Options:');
  write('  -h, --help     show help (`airssys VERB --help` for one verb)');
  write('      --version  print the gateway, jco and world versions');
}

export async function main(argv: string[], io: CliIo = processIo): Promise<number> {
  const [verb, ...rest] = argv;
  try {
    if (verb === undefined) {
      await verbList(io.err);
      return USAGE_EXIT;
    }
    if (verb === '--help' || verb === '-h' || (verb === 'help' && rest.length === 0)) {
      await verbList(io.out);
      return 0;
    }
    if (verb === '--version') {
      const { versionLines } = await import('./version.js');
      for (const l of await versionLines()) io.out(l);
      return 0;
    }
    // `airssys help push` is `airssys push --help`.
    const name = verb === 'help' ? rest[0]! : verb;
    const entry = VERBS.find(([n]) => n === name);
    if (!entry) {
      const near = name.startsWith('-') ? undefined : closestName(name, VERBS.map(([n]) => n));
      const what = name.startsWith('-') ? `unknown option ${name}` : `unknown verb "${name}"`;
      io.err(`error: ${what}; ${near ? `did you mean \`airssys ${near}\`? ` : ''}run \`airssys --help\` for the list`);
      return USAGE_EXIT;
    }
    const mod = await entry[1]();
    if (verb === 'help' || wantsHelp(rest)) {
      for (const l of helpText(mod.spec)) io.out(l);
      return 0;
    }
    return await mod.run(rest, io);
  } catch (err) {
    io.err(`error: ${describe(err)}`);
    if (process.env.AIRSSYS_DEBUG && err instanceof Error) io.err(err.stack ?? '');
    return exitCodeOf(err);
  }
}

export function exitCodeOf(err: unknown): number {
  return err instanceof GatewayError && INVALID_INPUT.has(err.code) ? USAGE_EXIT : 1;
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
    (code) => (process.exitCode = code),
    (err) => {
      process.stderr.write(`error: ${describe(err)}\n`);
      process.exitCode = 1;
    },
  );
}
