const { loadJco } = await import('/work/main/runtime/jco.ts');
const { readFileSync } = await import('node:fs');
const bytes = readFileSync('/tmp/kt/v100.wasm');
let t = performance.now();
const lap = (k: string) => { const n = performance.now(); console.log(k, (n - t).toFixed(0)); t = n; };
const jco = await loadJco(); lap('import jco');
// event-loop blocking probe
let maxLag = 0, last = performance.now();
const iv = setInterval(() => { const n = performance.now(); maxLag = Math.max(maxLag, n - last); last = n; }, 5);
await jco.componentWit(bytes); lap('componentWit #1');
await jco.componentWit(bytes); lap('componentWit #2');
await jco.transpile(bytes, { name: 'component', instantiation: 'sync', nodejsCompat: false }); lap('transpile #1');
await jco.transpile(bytes, { name: 'component', instantiation: 'sync', nodejsCompat: false }); lap('transpile #2');
clearInterval(iv); console.log('max event-loop lag', maxLag.toFixed(0));
