import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, relative, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * `airssys --version`: what an operator needs in a bug report. The gateway's version (its
 * package.json), the jco version that builds and transpiles components, and the worlds it loads
 * (read from the WIT the gateway ships, so a new world version shows up without touching this).
 */
export async function versionLines(): Promise<string[]> {
  const here = dirname(fileURLToPath(import.meta.url));
  const root = findUp(here, (dir) => readPackage(dir)?.name === 'airssys-gateway');
  const lines = [`airssys-gateway ${root ? readPackage(root)!.version : 'unknown'}`];
  lines.push(`jco ${jcoVersion() ?? 'not installed'}`);
  // Source checkout: <root>/wit; compiled: dist/wit next to dist/gateway (scripts/copy-assets.mjs).
  const witDir = [join(here, '..', '..', 'wit'), ...(root ? [join(root, 'wit')] : [])].find((d) => existsSync(d));
  const worlds = witDir ? worldsIn(witDir) : [];
  lines.push(`worlds ${worlds.length ? worlds.join(', ') : 'none found'}`);
  lines.push(`node ${process.version}`);
  return lines;
}

function readPackage(dir: string): { name?: string; version?: string } | undefined {
  try {
    return JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { name?: string; version?: string };
  } catch {
    return undefined;
  }
}

function findUp(start: string, match: (dir: string) => boolean): string | undefined {
  for (let dir = start; ; dir = dirname(dir)) {
    if (match(dir)) return dir;
    if (dirname(dir) === dir) return undefined;
  }
}

/** jco's package.json is not in its `exports`; find it from its entry point. */
function jcoVersion(): string | undefined {
  try {
    const entry = createRequire(import.meta.url).resolve('@bytecodealliance/jco');
    const dir = findUp(dirname(entry), (d) => readPackage(d)?.name === '@bytecodealliance/jco');
    return dir ? readPackage(dir)!.version : undefined;
  } catch {
    return undefined;
  }
}

/** `package ns:pkg@v;` + `world w {` in any .wit under dir → `ns:pkg/w@v`, sorted by version. */
export function worldsIn(dir: string): string[] {
  const out = new Set<string>();
  for (const entry of readdirSync(dir, { recursive: true, withFileTypes: true })) {
    // wit/deps holds packages the world imports from, not worlds the gateway loads.
    if (!entry.isFile() || !entry.name.endsWith('.wit') || /^deps(\/|$)/.test(relative(dir, entry.parentPath).split(sep).join("/"))) continue;
    const text = readFileSync(join(entry.parentPath, entry.name), 'utf8').replace(/\/\/.*$/gm, '');
    const pkg = /^\s*package\s+([a-z0-9-]+:[a-z0-9-]+)@([^;\s]+)\s*;/m.exec(text);
    if (!pkg) continue;
    for (const m of text.matchAll(/^\s*world\s+([a-z0-9-]+)\s*\{/gm)) out.add(`${pkg[1]}/${m[1]}@${pkg[2]}`);
  }
  return [...out].sort((a, b) => a.localeCompare(b, 'en', { numeric: true }));
}
