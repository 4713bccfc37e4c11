import { GatewayError } from '../../../runtime/errors.js';
import { FleetSimulator } from '../../fleet/simulator.js';
import { flagInt, parseArgs, requireFlag } from '../args.js';
import type { Verb } from '../io.js';

/** Usage and flags in one place (for the declarative --help spec). */
export const SPEC = {
  usage: 'airssys fleet-sim --config TEMPLATE.yaml --gateways N',
  flags: {
    config: 'gateway config used as the template: gateway i gets id <id>-<i>, data dir <data-dir>/<id>-<i>',
    gateways: 'how many gateways to run in this process (N ≥ 1)',
  },
  example: 'airssys fleet-sim --config config/sim-template.yaml --gateways 100',
} as const;

/**
 * `airssys fleet-sim`: runs N real gateways in one process; prints `ready N` on stdout once all are
 * online (logs go to stderr) and stops them all, each publishing its retained `offline`, on
 * SIGTERM or SIGINT.
 */
export const run: Verb = async (argv, io) => {
  const args = parseArgs(argv, { usage: SPEC.usage, values: ['config', 'gateways'], aliases: { c: 'config', n: 'gateways' } });
  if (args.positionals.length) throw new GatewayError('USAGE', `unexpected argument ${args.positionals[0]}; usage: ${SPEC.usage}`);
  const file = requireFlag(args, 'config', SPEC.usage);
  const count = flagInt(args, 'gateways', SPEC.usage);
  if (count === undefined || count < 1) throw new GatewayError('USAGE', `--gateways N (at least 1) is required; usage: ${SPEC.usage}`);

  const sim = new FleetSimulator({ templateFile: file, count });
  let stopping = false;
  const stopped = new Promise<void>((resolve) => {
    const stop = () => {
      if (stopping) return;
      stopping = true;
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      resolve();
    };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
  });
  try {
    await Promise.race([sim.start(), stopped]);
  } catch (err) {
    await sim.stop().catch(() => {});
    throw err;
  }
  if (!stopping) {
    io.out(`ready ${count}`);
    io.err(`fleet-sim: ${count} gateways ${sim.template.gateway.id}-1 … ${sim.template.gateway.id}-${count} online; SIGTERM to stop`);
    await stopped;
  }
  await sim.stop();
  return 0;
};
