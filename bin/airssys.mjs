#!/usr/bin/env node
// Entry point: run the compiled CLI when `npm run build` has produced dist/, else the TypeScript
// sources through tsx (a runtime dependency), so a fresh checkout works without a build step.
import { existsSync } from 'node:fs';
import { fileURLToPath, pathToFileURL } from 'node:url';

const compiled = fileURLToPath(new URL('../dist/gateway/cli/main.js', import.meta.url));
if (existsSync(compiled) && !process.env.AIRSSYS_FROM_SOURCE) {
  await import(pathToFileURL(compiled).href);
} else {
  const { register } = await import('tsx/esm/api');
  register();
  await import(new URL('../gateway/cli/main.ts', import.meta.url).href);
}
