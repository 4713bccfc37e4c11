import { oneLine } from '../runtime/build/component.js';
import { GatewayError } from '../runtime/errors.js';
import { loadJco } from '../runtime/jco.js';
import { checkWorld, summarizeWit } from '../runtime/world-check.js';

/**
 * Last gate before bytes leave the SDK: the gateway's own world check (runtime/world-check.ts) on
 * what wit-component says the component imports and exports, so the SDK never hands out a
 * component the gateway would refuse.
 */
export async function componentProblems(component: Uint8Array): Promise<string[]> {
  const jco = await loadJco();
  let wit: string;
  try {
    wit = await jco.componentWit(component);
  } catch (err) {
    return [`not a component: ${oneLine(err)}`];
  }
  try {
    checkWorld(summarizeWit(wit), new Map());
    return [];
  } catch (err) {
    return [(err as Error).message];
  }
}

export async function assertComponentImports(component: Uint8Array, what: string): Promise<void> {
  const problems = await componentProblems(component);
  if (problems.length) throw new GatewayError('BUILD_FAILED', `${what}: ${problems[0]}`);
}
