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
  const gateway = new Gateway({ config });
  try {
    await gateway.start();
  } catch (err) {
    await gateway.stop().catch(() => {});
    throw err;
  }
  io.err(`airssys gateway ${config.gateway.id} running (${gateway.services.size} components); Ctrl-C to stop`);
  await new Promise<void>((resolve) => {
    const stop = () => {
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      resolve();
    };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
  });
  await gateway.stop();
  return 0;
};
