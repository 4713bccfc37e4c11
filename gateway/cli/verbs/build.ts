import { readFile, writeFile } from 'node:fs/promises';
import { extname } from 'node:path';
import { GatewayError } from '../../../runtime/errors.js';
import { buildWat } from '../../../runtime/build/wat.js';
import { flagString } from '../args.js';
import type { Verb } from '../io.js';
import { parseVerbArgs, usageError, type VerbSpec } from '../spec.js';

export const spec: VerbSpec = {
  name: 'build',
  summary: 'build a component from WAT (.wat) or AssemblyScript (.ts)',
  usage: 'build SRC.wat|SRC.ts -o OUT.wasm',
  about: 'WAT goes through wasm-tools, AssemblyScript through the SDK; both end as a component of the sensor world, checked the way the gateway will check it.',
  flags: [{ name: 'out', short: 'o', arg: 'OUT.wasm', about: 'where to write the component' }],
  examples: ['airssys build thermo.ts -o thermo.wasm'],
  exits: '0 built, 1 the source does not build (the line says where), 2 invalid arguments',
};

/** `airssys build`: WAT through wasm-tools, AssemblyScript through the SDK; both end as a sensor-world component. */
export const run: Verb = async (argv, io) => {
  const args = parseVerbArgs(argv, spec);
  const [src] = args.positionals;
  const out = flagString(args, 'out');
  if (!src || args.positionals.length > 1) throw usageError(spec, 'give exactly one source file');
  if (!out) throw usageError(spec, 'missing -o OUT.wasm');
  const kind = extname(src).toLowerCase();
  let bytes: Uint8Array;
  if (kind === '.wat') {
    bytes = await buildWat(await readSource(src));
  } else if (kind === '.ts') {
    const { buildAssemblyScript } = await import('../../../sdk/build.js');
    bytes = await buildAssemblyScript(src);
  } else {
    throw new GatewayError('USAGE', `cannot build ${src}: unknown source kind "${kind || '(none)'}"; use a .wat file or an AssemblyScript .ts file`);
  }
  // Check the result the way the gateway will, so a build never yields a component it would reject.
  const { inspectComponent } = await import('./inspect.js');
  await inspectComponent(bytes);
  await writeFile(out, bytes);
  io.out(`built ${out} (${bytes.length} bytes)`);
  return 0;
};

async function readSource(path: string): Promise<string> {
  try {
    return await readFile(path, 'utf8');
  } catch (err) {
    throw new GatewayError('USAGE', `cannot read ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}; check the path`);
  }
}
