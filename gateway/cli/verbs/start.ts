import { flagString } from '../args.js';
import type { Verb } from '../io.js';
import { parseVerbArgs, usageError, type VerbSpec } from '../spec.js';

export const spec: VerbSpec = {
  name: 'start',
  summary: 'run the gateway until SIGINT/SIGTERM',
  usage: 'start [--config FILE]',
  about: 'Loads the configuration, starts the components, the MQTT connection, telemetry and the OTA updater, and runs until stopped; then stops in order (offline state last).',
  flags: [{ name: 'config', short: 'c', arg: 'FILE', about: 'gateway configuration (default config/gateway.yaml)' }],
  examples: ['airssys start --config /etc/airssys/gateway.yaml'],
  exits: '0 after a clean stop, 1 when the gateway cannot start (the line says why), 2 invalid arguments',
};

/** `airssys start`: runs the gateway until SIGINT/SIGTERM, then stops it in order (offline state last). */
export const run: Verb = async (argv, io) => {
  const args = parseVerbArgs(argv, spec);
  if (args.positionals.length) throw usageError(spec, `unexpected argument ${JSON.stringify(args.positionals[0])}`);
  // Loaded here, not at the top: `airssys --help` reads every verb's spec and must stay quick.
  const [{ loadConfig }, { Gateway }] = await Promise.all([import('../../config/index.js'), import('../../gateway.js')]);
  const file = flagString(args, 'config') ?? 'config/gateway.yaml';
  const config = loadConfig(file);
  // Listening before anything starts: a SIGTERM sent the instant "running" is printed must stop the
  // gateway cleanly (lock released, offline state), not kill it by default. One that comes while
  // it is still starting exits at once, as before (the exit hook still releases the data-dir lock).
  let running = false;
  const stopRequested = new Promise<void>((resolve) => {
    const stop = (signal: NodeJS.Signals) => {
      if (!running) process.exit(signal === 'SIGINT' ? 130 : 143);
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      resolve();
    };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
  });
  const gateway = new Gateway({ config });
  try {
    await gateway.start();
  } catch (err) {
    await gateway.stop().catch(() => {});
    throw err;
  }
  running = true;
  io.err(`airssys gateway ${config.gateway.id} running (${gateway.services.size} components); Ctrl-C to stop`);
  await stopRequested;
  await gateway.stop();
  return 0;
};
