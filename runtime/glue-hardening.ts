/**
 * jco's glue reads a `list<u8>` argument with `memory.buffer.slice(ptr, ptr + len)`, which silently
 * clamps a range past the end of memory: a hostile guest would hand the host a shorter list than
 * it claimed. Strings are read with `new Uint8Array(buffer, ptr, len)`, which throws. This rewrite,
 * applied when the glue is generated (never at load), makes list reads throw the same RangeError,
 * which traps the guest. The glue is still produced locally by jco; this only tightens it.
 */
const LIST_READ = /new Uint8Array\((\w+)\.buffer\.slice\((\w+), \2 \+ (\w+) \* 1\)\)/g;

export const GLUE_HARDENING_VERSION = 1;

export function hardenGlue(glue: string): { glue: string; rewrites: number } {
  let rewrites = 0;
  const out = glue.replace(LIST_READ, (_m, mem: string, ptr: string, len: string) => {
    rewrites++;
    return `new Uint8Array(new Uint8Array(${mem}.buffer, ${ptr}, ${len}))`;
  });
  return { glue: out, rewrites };
}
