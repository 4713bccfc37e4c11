import { componentize } from '@bytecodealliance/componentize-js';
import fs from 'node:fs';
const t0 = Date.now();
const src = fs.readFileSync('/tmp/cjs/comp.js', 'utf8');
const wit = fs.readFileSync('/work/main/wit/world.wit', 'utf8');
const { component, imports } = await componentize(src, wit, { sourceName: 'comp.js', worldName: 'sensor', disableFeatures: ['stdio','random','clocks','http','fetch-event'] });
console.log('ms', Date.now() - t0, 'size', component.length, imports);
fs.writeFileSync('/tmp/cjs/comp.wasm', component);
