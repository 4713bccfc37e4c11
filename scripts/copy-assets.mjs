#!/usr/bin/env node
// After `tsc`: the non-TypeScript files the compiled code reads next to itself (the WIT world, the
// AssemblyScript SDK sources that `airssys build x.ts` compiles against, the status page's static files).
import { cpSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { vendorJco } from './vendor-jco.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const out = process.argv[2] ?? join(root, 'dist');
cpSync(join(root, 'wit'), join(out, 'wit'), { recursive: true });
cpSync(join(root, 'sdk', 'assembly'), join(out, 'sdk', 'assembly'), { recursive: true });
// Read by gateway/extensions/ui/extension.js next to itself (uPlot comes from node_modules/uplot).
cpSync(join(root, 'gateway', 'extensions', 'ui', 'static'), join(out, 'gateway', 'extensions', 'ui', 'static'), { recursive: true });
// The two pieces of jco the gateway uses (scripts/vendor-jco.mjs).
vendorJco(join(out, 'vendor', 'jco'));
