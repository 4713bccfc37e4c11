import { readFile, writeFile } from 'node:fs/promises';
import { extname } from 'node:path';
import { GatewayError } from '../../../runtime/errors.js';
import { buildWat, watToCore } from '../../../runtime/build/wat.js';
import { componentFromCore } from '../../../runtime/build/component.js';
import { WORLDS, worldVersion } from '../../../runtime/interfaces/index.js';
import { flagString } from '../args.js';
import type { Verb } from '../io.js';
import { parseVerbArgs, usageError, type VerbSpec } from '../spec.js';

export const spec: VerbSpec = {
  name: 'build',
  summary: 'build a component from WAT (.wat) or AssemblyScript (.ts)',
  usage: 'build SRC.wat|SRC.ts -o OUT.wasm [options]',
  about:
    'WAT goes through wasm-tools, AssemblyScript through the SDK; both end as a component of the sensor world, checked the way the gateway will check it. ' +
    'The world version is the oldest that has every interface the source uses, unless --world names one.',
  flags: [
    { name: 'out', short: 'o', arg: 'OUT.wasm', about: 'where to write the component' },
    {
      name: 'world',
      arg: 'VERSION',
      about: `world version to build for (${WORLDS.map((w) => w.version).join(' or ')}); a 0.1.0-only source may be built as 0.2.0 (to replace a 0.2.0 build by OTA); less than the source uses fails the build`,
    },
  ],
  examples: ['airssys build thermo.ts -o thermo.wasm', 'airssys build thermo.ts -o thermo.wasm --world 0.2.0'],
  exits: '0 built, 1 the source does not build (the line says where), 2 invalid arguments (an unknown --world among them)',
};

/** `airssys build`: WAT through wasm-tools, AssemblyScript through the SDK; both end as a sensor-world component. */
export const run: Verb = async (argv, io) => {
  const args = parseVerbArgs(argv, spec);
  const [src] = args.positionals;
  const out = flagString(args, 'out');
  if (!src || args.positionals.length > 1) throw usageError(spec, 'give exactly one source file');
  if (!out) throw usageError(spec, 'missing -o OUT.wasm');
  const world = flagString(args, 'world');
  // Checked before any compiling, so a typo costs no build.
  if (world !== undefined && !worldVersion(world)) {
    throw new GatewayError('USAGE', `unknown world version ${JSON.stringify(world)}; use --world ${WORLDS.map((w) => w.version).join(' or ')}, or leave it out to build for the oldest version the source needs`);
  }
  const kind = extname(src).toLowerCase();
  let bytes: Uint8Array;
  if (kind === '.wat') {
    const text = await readSource(src);
    if (world === undefined) bytes = await buildWat(text);
    else {
      // The SDK's rule for a forced version: every world import moved to it, refused if it lacks one the source uses.
      const { targetWorld } = await import('../../../sdk/build.js');
      bytes = await componentFromCore(targetWorld(await watToCore(text), src, world), world);
    }
  } else if (kind === '.ts') {
    const { buildAssemblyScript } = await import('../../../sdk/build.js');
    bytes = await buildAssemblyScript(src, world === undefined ? {} : { world });
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
