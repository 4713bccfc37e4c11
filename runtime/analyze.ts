import { oneLine } from './build/component.js';
import { GatewayError } from './errors.js';
import { loadJco } from './jco.js';
import { requireComponent } from './wasm-header.js';
import { checkWorld, summarizeWit, type WorldSummary } from './world-check.js';

/**
 * Runs jco over a component once: its world as WIT (imports, exports), and the transpiled glue,
 * core modules and interface declarations. Both the engine (to build cache entries) and
 * `airssys inspect` start here.
 */
export interface Analysis {
  summary: WorldSummary;
  files: Record<string, Uint8Array>;
  /** Why it does not fit the world its imports name; undefined when it does. */
  problem: GatewayError | undefined;
  /** The world it targets (`airssys:gateway/sensor@0.2.0`) when it fits. */
  world: string | undefined;
}

export async function analyzeComponent(bytes: Uint8Array): Promise<Analysis> {
  requireComponent(bytes);
  const jco = await loadJco();
  let wit: string;
  let files: Record<string, Uint8Array>;
  try {
    wit = await jco.componentWit(bytes);
    // Types are generated too, only to compare the imported interfaces against the world.
    ({ files } = await jco.transpile(bytes));
  } catch (err) {
    throw new GatewayError('INVALID_COMPONENT', `component is not valid: ${oneLine(err)}; rebuild it (is the file truncated?)`);
  }
  const summary = summarizeWit(wit);
  const decls = new Map<string, string>();
  for (const [name, content] of Object.entries(files)) {
    const m = /^interfaces\/(.+)\.d\.ts$/.exec(name);
    if (m) decls.set(m[1]!, Buffer.from(content).toString('utf8'));
  }
  let problem: GatewayError | undefined;
  let world: string | undefined;
  try {
    world = `airssys:gateway/sensor@${checkWorld(summary, decls).version}`;
  } catch (err) {
    problem = err as GatewayError;
  }
  return { summary, files, problem, world };
}
