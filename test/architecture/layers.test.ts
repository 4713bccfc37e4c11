import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';

/**
 * The layers of docs/architecture.md, checked on every import in the tree (static, re-export and
 * dynamic `import()`): runtime/ imports nothing of ours above it, drivers/ only runtime/, sdk/ only
 * drivers/ and runtime/ (the CLI imports sdk/, so sdk/ importing gateway/ is a cycle), and gateway/
 * anything. A new import across a line fails here with the file, the line and the rule.
 */
const ROOT = path.resolve(import.meta.dirname, '../..');
const LAYERS = ['runtime', 'drivers', 'sdk', 'gateway'] as const;
type Layer = (typeof LAYERS)[number];
const MAY_IMPORT: Record<Layer, readonly Layer[]> = {
  runtime: ['runtime'],
  drivers: ['drivers', 'runtime'],
  sdk: ['sdk', 'drivers', 'runtime'],
  gateway: ['gateway', 'sdk', 'drivers', 'runtime'],
};
// sdk/assembly is AssemblyScript compiled into components, not part of the Node process.
const SKIP = [path.join('sdk', 'assembly')];

const layerOf = (rel: string): Layer | undefined => LAYERS.find((l) => rel === l || rel.startsWith(`${l}/`));

function sourceFiles(dir: string): string[] {
  const out: string[] = [];
  for (const e of readdirSync(path.join(ROOT, dir), { withFileTypes: true })) {
    const rel = path.join(dir, e.name);
    if (SKIP.includes(rel)) continue;
    if (e.isDirectory()) out.push(...sourceFiles(rel));
    else if (/\.(ts|mts|js|mjs)$/.test(e.name) && !e.name.endsWith('.d.ts')) out.push(rel);
  }
  return out;
}

interface Violation {
  file: string;
  line: number;
  target: string;
  rule: string;
}

const IMPORT = /(?:\bfrom\s*|\bimport\s*\(\s*|^\s*import\s+)['"](\.{1,2}\/[^'"]+)['"]/gm;

/** Every relative import in `source` (a file at `file`, relative to the repo) that crosses a layer line the wrong way. */
export function violations(file: string, source: string): Violation[] {
  const from = layerOf(file.split(path.sep).join('/'));
  if (!from) return [];
  const out: Violation[] = [];
  for (const m of source.matchAll(IMPORT)) {
    const target = path.posix.normalize(path.posix.join(path.posix.dirname(file.split(path.sep).join('/')), m[1]!));
    const to = layerOf(target);
    if (to && !MAY_IMPORT[from].includes(to)) {
      out.push({ file, line: source.slice(0, m.index).split('\n').length, target, rule: `${from}/ may import only ${MAY_IMPORT[from].join('/, ')}/` });
    }
  }
  return out;
}

describe('layers', () => {
  const files = LAYERS.flatMap((l) => sourceFiles(l));
  const edges = new Set<string>();
  for (const f of files) {
    const src = readFileSync(path.join(ROOT, f), 'utf8');
    for (const m of src.matchAll(IMPORT)) {
      const to = layerOf(path.posix.normalize(path.posix.join(path.posix.dirname(f.split(path.sep).join('/')), m[1]!)));
      if (to) edges.add(`${layerOf(f.split(path.sep).join('/'))}→${to}`);
    }
  }

  it('no import crosses a layer line the wrong way', () => {
    const found = files.flatMap((f) => violations(f, readFileSync(path.join(ROOT, f), 'utf8')));
    expect(found.map((v) => `${v.file}:${v.line} imports ${v.target} (${v.rule})`)).toEqual([]);
  });

  it('the scan sees the imports that are allowed (it is not vacuous)', () => {
    expect(files.length).toBeGreaterThan(100);
    for (const e of ['gateway→drivers', 'gateway→sdk', 'sdk→drivers', 'drivers→runtime', 'sdk→runtime']) expect(edges).toContain(e);
  });

  it('flags static, re-export and dynamic imports across a line', () => {
    const src = [
      "import { a } from '../gateway/x.js';",
      "export { b } from '../drivers/y.js';",
      "const c = await import('../sdk/z.js');",
      "import type { D } from './w.js';",
    ].join('\n');
    expect(violations(path.join('runtime', 'v.ts'), src).map((v) => [v.line, v.target])).toEqual([
      [1, 'gateway/x.js'],
      [2, 'drivers/y.js'],
      [3, 'sdk/z.js'],
    ]);
    expect(violations(path.join('sdk', 'testing.ts'), "import { C } from '../gateway/component/component-host.js';")).toHaveLength(1);
    expect(violations(path.join('gateway', 'cli', 'main.ts'), "import { t } from '../../sdk/testing.js';")).toEqual([]);
  });
});
