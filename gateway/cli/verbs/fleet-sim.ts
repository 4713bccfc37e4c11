import { GatewayError } from '../../../runtime/errors.js';
import { FleetSimulator } from '../../fleet/simulator.js';
import { flagInt, requireFlag } from '../args.js';
import type { Verb } from '../io.js';
import { parseVerbArgs, usageError, usageLine, type VerbSpec } from '../spec.js';

export const spec: VerbSpec = {
  name: 'fleet-sim',
  summary: 'run N simulated gateways in one process',
  usage: 'fleet-sim --config TEMPLATE.yaml --gateways N',
  about: 'Each is a real gateway (runtime, updater, outbox, MQTT connection) with id <template id>-<i> and data directory <template data-dir>/<id>, sharing one component cache. Prints `ready N` on stdout once all are online; stops them all (each publishing its retained offline state) on SIGTERM or SIGINT. A template that would bind a port per gateway (metrics, ui, an embedded broker) is refused.',
  flags: [
    { name: 'config', short: 'c', arg: 'TEMPLATE.yaml', about: 'gateway config used as the template: gateway i gets id <id>-<i>, data dir <data-dir>/<id>-<i>' },
    { name: 'gateways', short: 'n', arg: 'N', about: 'how many gateways to run in this process (N ≥ 1)' },
  ],
  examples: ['airssys fleet-sim --config config/sim-template.yaml --gateways 100'],
  exits: '0 stopped, 1 a gateway could not start, 2 invalid arguments or template',
};
const USAGE = usageLine(spec);

/**
 * `airssys fleet-sim`: runs N real gateways in one process; prints `ready N` on stdout once all are
 * online (logs go to stderr) and stops them all, each publishing its retained `offline`, on
 * SIGTERM or SIGINT.
 */
export const run: Verb = async (argv, io) => {
  const args = parseVerbArgs(argv, spec);
  if (args.positionals.length) throw usageError(spec, `unexpected argument ${args.positionals[0]}`);
  const file = requireFlag(args, 'config', USAGE);
  const count = flagInt(args, 'gateways', USAGE);
  if (count === undefined || count < 1) throw new GatewayError('USAGE', `--gateways N (at least 1) is required; usage: ${USAGE}`);

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
