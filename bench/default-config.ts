import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parse } from 'yaml';

/**
 * The default config (`config/gateway.yaml`, what a user runs) as a plain object for a bench to
 * adjust and write elsewhere: its component paths are made absolute, since they are relative to
 * `config/` and the written copy lives in a temporary directory.
 */
export async function defaultConfig(root: string): Promise<Record<string, any>> {
  const config = parse(await readFile(join(root, 'config', 'gateway.yaml'), 'utf8')) as Record<string, any>;
  for (const c of config.components) {
    c.source = join(root, 'config', c.source);
    c.manifest = join(root, 'config', c.manifest);
  }
  return config;
}
