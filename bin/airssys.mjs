#!/usr/bin/env node
// Entry point. An installed gateway (npm pack, scripts/install-pi.sh) runs the compiled dist/;
// a development checkout (it has .git) runs the TypeScript sources through tsx, so an old dist/
// never shadows an edit. AIRSSYS_FROM_SOURCE=1 / AIRSSYS_USE_DIST=1 force either.
import { existsSync } from 'node:fs';
import { fileURLToPath, pathToFileURL } from 'node:url';

const compiled = fileURLToPath(new URL('../dist/gateway/cli/main.js', import.meta.url));
const checkout = existsSync(fileURLToPath(new URL('../.git', import.meta.url)));
const useDist = existsSync(compiled) && !process.env.AIRSSYS_FROM_SOURCE && (!checkout || process.env.AIRSSYS_USE_DIST);
if (useDist) {
  await import(pathToFileURL(compiled).href);
} else {
  const { register } = await import('tsx/esm/api');
  register();
  await import(new URL('../gateway/cli/main.ts', import.meta.url).href);
}
