import { readFile } from 'node:fs/promises';
import { sha256Hex } from '../../../runtime/cache.js';
import { GatewayError } from '../../../runtime/errors.js';
import { analyzeComponent } from '../../../runtime/analyze.js';
import { WORLD_NAME } from '../../../runtime/world.js';
import type { Verb } from '../io.js';
import { parseVerbArgs, usageError, type VerbSpec } from '../spec.js';

export const spec: VerbSpec = {
  name: 'inspect',
  summary: 'show a component\'s world, imports, exports, size and sha256',
  usage: 'inspect FILE.wasm [--json]',
  flags: [{ name: 'json', about: 'print one JSON object instead of the table' }],
  examples: ['airssys inspect thermo.wasm --json'],
  exits: '0 a component of the sensor world, 2 not a component or not of that world',
};

export interface Inspection {
  world: string | null;
  imports: string[];
  exports: string[];
  size: number;
  sha256: string;
  /** Why the component does not fit the world, when it does not. */
  problem?: string;
}

/** Reads what a component imports and exports and whether it fits the sensor world. Throws for non-components. */
export async function inspectComponent(bytes: Uint8Array, opts: { strict?: boolean } = { strict: true }): Promise<Inspection> {
  const { summary, problem, world } = await analyzeComponent(bytes);
  if (problem && opts.strict) throw problem;
  return {
    world: problem ? null : (world ?? WORLD_NAME),
    imports: summary.imports,
    exports: summary.exports.map((e) => e.replace(/^export /, '').replace(/;$/, '')),
    size: bytes.length,
    sha256: sha256Hex(bytes),
    ...(problem ? { problem: problem.message } : {}),
  };
}

export const run: Verb = async (argv, io) => {
  const args = parseVerbArgs(argv, spec);
  const [file] = args.positionals;
  if (!file || args.positionals.length > 1) throw usageError(spec, 'give exactly one FILE.wasm');
  let bytes: Uint8Array;
  try {
    bytes = await readFile(file);
  } catch (err) {
    throw new GatewayError('LOAD_FAILED', `cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}; check the path`);
  }
  let info: Inspection;
  try {
    info = await inspectComponent(bytes, { strict: false });
  } catch (err) {
    // Not a component at all (garbage, a core module, truncated): exit 2 like `run`.
    throw new GatewayError('LOAD_FAILED', (err as Error).message);
  }
  if (args.flags.json) {
    io.out(JSON.stringify(info));
  } else {
    io.out(`world    ${info.world ?? `(not ${WORLD_NAME})`}`);
    io.out(`size     ${info.size} bytes`);
    io.out(`sha256   ${info.sha256}`);
    io.out(`imports  ${info.imports.length ? info.imports.join('\n         ') : '(none)'}`);
    io.out(`exports  ${info.exports.join('\n         ')}`);
  }
  if (info.problem) {
    io.err(`error: ${info.problem}`);
    return 2;
  }
  return 0;
};
