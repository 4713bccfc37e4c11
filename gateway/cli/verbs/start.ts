import { loadConfig } from '../../config/index.js';
import { Gateway } from '../../gateway.js';
import { flagString, parseArgs } from '../args.js';
import type { Verb } from '../io.js';

const USAGE = 'airssys start [--config FILE]';

/** `airssys start`: runs the gateway until SIGINT/SIGTERM, then stops it in order (offline state last). */
export const run: Verb = async (argv, io) => {
  const args = parseArgs(argv, { usage: USAGE, values: ['config'], aliases: { c: 'config' } });
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
