import { writeFile } from 'node:fs/promises';
import { stringify } from 'yaml';
import { buildMeter, meterManifest, writeRelease, writeKeys, gatewayConfig } from '/work/main/test/ota-e2e/helpers.ts';
const dir = '/tmp/kt';
const k = await writeKeys(dir, 'ota');
const r = await writeRelease(dir, 'v100', await buildMeter({ marker: 1 }), meterManifest('1.0.0'));
const cfg = gatewayConfig({ url: 'mqtt://127.0.0.1:18830', dataDir: dir + '/var', pub: k.pub, components: [{ source: r.wasm, manifest: r.yaml }] });
await writeFile(dir + '/gw.yaml', stringify(cfg));
