import { readFile, writeFile } from 'node:fs/promises';
import { extname } from 'node:path';
import { GatewayError } from '../../../runtime/errors.js';
import { buildWat } from '../../../runtime/build/wat.js';
import { flagString, parseArgs } from '../args.js';
import type { Verb } from '../io.js';

const USAGE = 'airssys build SRC(.wat|.ts) -o OUT.wasm';

/** `airssys build`: WAT through wasm-tools, AssemblyScript through the SDK; both end as a sensor-world component. */
export const run: Verb = async (argv, io) => {
  const args = parseArgs(argv, { usage: USAGE, values: ['out'], aliases: { o: 'out' } });
  const [src] = args.positionals;
  const out = flagString(args, 'out');
  if (!src || !out || args.positionals.length > 1) throw new GatewayError('USAGE', `usage: ${USAGE}`);
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
