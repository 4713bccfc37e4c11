#!/usr/bin/env node
// `node scripts/vendor-jco.mjs DEST`: copies the two pieces of jco the gateway uses (runtime/jco.ts)
// — its bindgen and wasm-tools, Wasm with thin JS wrappers — out of the development dependency
// `@bytecodealliance/jco`, so an install carries ~11 MB instead of jco's ~165 MB of command-line
// tooling. `npm run build` puts them in dist/vendor/jco; the Pi installer in vendor/jco when it
// installs a checkout that has no dist/.
import { cpSync, mkdirSync, readdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export function vendorJco(dest) {
  const obj = join(dirname(createRequire(import.meta.url).resolve('@bytecodealliance/jco')), '..', 'obj');
  mkdirSync(dest, { recursive: true });
  const files = readdirSync(obj).filter((f) => /^(js-component-bindgen-component|wasm-tools)\.(js|core\d*\.wasm)$/.test(f));
  for (const f of files) cpSync(join(obj, f), join(dest, f));
  return files;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const dest = process.argv[2];
  if (!dest) {
    console.error('usage: node scripts/vendor-jco.mjs DEST');
    process.exit(2);
  }
  try {
    vendorJco(dest);
  } catch (err) {
    console.error(`error: cannot copy jco (${err.code ?? err.message}); run \`npm ci\` in the checkout first (jco is a development dependency)`);
    process.exit(1);
  }
}
