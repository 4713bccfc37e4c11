import { analyzeComponent } from '../analyze.js';
import { GatewayError } from '../errors.js';
import { hardenGlue } from '../glue-hardening.js';
import { instrumentCoreModule } from '../instrument/index.js';

/**
 * Everything a cold load computes, as plain data: the hardened glue, the instrumented core modules
 * and the world summary. Pure (no I/O), so it can run in the engine's build worker as well as inline.
 */
export interface BuildOptions {
  memoryMb: number;
  instrument: boolean;
}

export interface BuiltArtifacts {
  glue: string;
  cores: { name: string; bytes: Uint8Array }[];
  imports: string[];
  exports: string[];
}

export async function buildArtifacts(bytes: Uint8Array, opts: BuildOptions): Promise<BuiltArtifacts> {
  const { summary, files, problem } = await analyzeComponent(bytes);
  if (problem) throw problem;
  const { glue } = hardenGlue(Buffer.from(files['component.js']!).toString('utf8'));
  const cores: { name: string; bytes: Uint8Array }[] = [];
  for (const [name, content] of Object.entries(files)) {
    if (!name.endsWith('.wasm')) continue;
    const core = opts.instrument ? instrumentCoreModule(content, { memoryMaxPages: opts.memoryMb * 16 }).bytes : content;
    if (!WebAssembly.validate(core as Uint8Array<ArrayBuffer>)) {
      throw new GatewayError('INVALID_COMPONENT', `core module ${name} does not validate after instrumentation; report this with the component attached`);
    }
    cores.push({ name, bytes: core });
  }
  return { glue, cores, imports: summary.imports, exports: summary.exports };
}

/** Where cold builds run: inline (this thread) or a BuildWorker. */
export interface Builder {
  build(bytes: Uint8Array, opts: BuildOptions): Promise<BuiltArtifacts>;
}

export const inlineBuilder: Builder = { build: buildArtifacts };
