import { readFile } from 'node:fs/promises';
import { GatewayError } from '../../runtime/errors.js';
import { parseManifest, type Manifest } from '../../runtime/manifest.js';
import { parseYamlText } from '../config/yaml.js';

/** Reads a manifest file (YAML, or JSON which YAML accepts) as the raw mapping, unvalidated. */
export async function readManifestObject(path: string): Promise<Record<string, unknown>> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    throw new GatewayError('INVALID_MANIFEST', `cannot read manifest ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}; check the path`);
  }
  const parsed = parseYamlText(text, path);
  if (parsed.problems.length > 0) throw new GatewayError('INVALID_MANIFEST', `manifest ${parsed.problems[0]}`);
  const raw = parsed.value;
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    throw new GatewayError('INVALID_MANIFEST', `manifest ${path} must be a mapping; start it with name: and version:`);
  }
  return raw as Record<string, unknown>;
}

/** Reads a manifest file into a validated Manifest. */
export async function loadManifestFile(path: string): Promise<Manifest> {
  const raw = await readManifestObject(path);
  try {
    return parseManifest(raw);
  } catch (err) {
    if (err instanceof GatewayError) throw new GatewayError(err.code, `${path}: ${err.message}`);
    throw err;
  }
}

/** Reads a component file, with a one-line error naming the path. */
export async function readComponentFile(path: string): Promise<Uint8Array> {
  try {
    return await readFile(path);
  } catch (err) {
    throw new GatewayError('LOAD_FAILED', `cannot read component ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}; check the path`);
  }
}
