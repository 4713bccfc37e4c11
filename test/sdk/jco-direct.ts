import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';

/**
 * Runs a component through jco's transpile and the glue's synchronous instantiate, with a host
 * imports object the test writes itself: no runtime, no fuel. Checks the SDK's ABI against jco's
 * own lifting and lowering. Host functions signal err(host-error) by throwing `{ payload: { tag, val } }`.
 */
export async function instantiateDirect(bytes: Uint8Array, imports: Record<string, Record<string, unknown>>) {
  const jco = await import('@bytecodealliance/jco');
  const { files } = (await jco.transpile(bytes, { name: 'c', instantiation: 'sync', noTypescript: true, noNodejsCompat: true })) as { files: Record<string, Uint8Array> };
  const dir = mkdtempSync(path.join(tmpdir(), 'airssys-jco-'));
  for (const [name, content] of Object.entries(files)) if (!name.includes('/')) writeFileSync(path.join(dir, name), content);
  const glue = await import(pathToFileURL(path.join(dir, 'c.js')).href);
  const memories: WebAssembly.Memory[] = [];
  const exports = glue.instantiate(
    (name: string) => new WebAssembly.Module(files[name]!),
    imports,
    (module: WebAssembly.Module, imp?: WebAssembly.Imports) => {
      const inst = new WebAssembly.Instance(module, imp);
      for (const v of Object.values(inst.exports)) if (v instanceof WebAssembly.Memory) memories.push(v);
      return inst;
    },
  ) as Record<string, (...args: unknown[]) => unknown>;
  return { exports, memoryBytes: () => memories.reduce((n, m) => n + m.buffer.byteLength, 0) };
}

export const hostErr = (tag: 'denied' | 'invalid' | 'io' | 'limited', val: string) => ({ payload: { tag, val } });
