#!/usr/bin/env node
// Writes docs/cli.md from the verbs' own specs (gateway/cli/verbs/*.ts), so the reference and
// `airssys VERB --help` never disagree. test/cli/help.test.ts fails when docs/cli.md is stale.
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const { register } = await import('tsx/esm/api');
register();
const { cliReference } = await import(new URL('../gateway/cli/reference.ts', import.meta.url).href);
const out = fileURLToPath(new URL('../docs/cli.md', import.meta.url));
writeFileSync(out, await cliReference());
console.log(`wrote ${out}`);
