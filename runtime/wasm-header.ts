import { GatewayError } from './errors.js';

/**
 * Tells a component from a core module from anything else by the 8-byte preamble, before any
 * parser sees the bytes: `\0asm` + version 1 (core) or `\0asm` + 0x0d 0x00 + layer 1 (component).
 */
export type WasmKind = 'component' | 'core-module';

export function wasmKind(bytes: Uint8Array): WasmKind {
  if (bytes.length < 8 || bytes[0] !== 0x00 || bytes[1] !== 0x61 || bytes[2] !== 0x73 || bytes[3] !== 0x6d) {
    throw new GatewayError('NOT_WASM', `not a WebAssembly file (${bytes.length} bytes, no \\0asm header); pass a component built with \`airssys build\``);
  }
  const version = bytes[4]! | (bytes[5]! << 8);
  const layer = bytes[6]! | (bytes[7]! << 8);
  if (layer === 0 && version === 1) return 'core-module';
  if (layer === 1) return 'component';
  throw new GatewayError('NOT_WASM', `unknown WebAssembly version ${version}/layer ${layer}; rebuild the component with a current toolchain`);
}

export function requireComponent(bytes: Uint8Array): void {
  if (wasmKind(bytes) === 'core-module') {
    throw new GatewayError('NOT_A_COMPONENT', 'this is a core WebAssembly module, not a component; wrap it with `airssys build` (or `wasm-tools component new`) against wit/world.wit');
  }
}
