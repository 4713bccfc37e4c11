import { GatewayError } from '../runtime/errors.js';
import { WORLD_EXPORTS, WORLD_IMPORTS } from '../runtime/world.js';

/**
 * Last gate before bytes leave the SDK: ask wit-component what the component imports and exports,
 * and refuse anything the gateway would refuse (an import outside the world, a missing export).
 */
export async function componentProblems(component: Uint8Array): Promise<string[]> {
  const jco = await import('@bytecodealliance/jco');
  let wit: string;
  try {
    wit = await jco.componentWit(component);
  } catch (err) {
    return [`not a component: ${(err as Error).message.split('\n')[0]}`];
  }
  const problems: string[] = [];
  const allowed = new Set<string>(WORLD_IMPORTS);
  for (const m of wit.matchAll(/^\s*import\s+([^:;\s]+:[^;\s]+?)\s*;/gm)) {
    if (!allowed.has(m[1]!)) problems.push(`imports ${m[1]}, which is not part of airssys:gateway/sensor@0.1.0`);
  }
  for (const m of wit.matchAll(/^\s*import\s+([\w-]+)\s*:\s*(?:func\b|interface\b)/gm)) problems.push(`imports the function ${m[1]}, which is not part of the world`);
  for (const name of WORLD_EXPORTS) {
    if (!new RegExp(`^\\s*export\\s+${name}\\s*:`, 'm').test(wit)) problems.push(`does not export ${name}`);
  }
  return problems;
}

export async function assertComponentImports(component: Uint8Array, what: string): Promise<void> {
  const problems = await componentProblems(component);
  if (problems.length) throw new GatewayError('BUILD_FAILED', `${what}: the component ${problems.slice(0, 3).join('; ')}`);
}
