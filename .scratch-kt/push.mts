import mqtt from 'mqtt';
import { buildRelease } from '/work/main/gateway/ota/release.ts';
import { readPrivateKeyFile } from '/work/main/gateway/ota/keys.ts';
import { buildMeter, meterManifest, publishRaw } from '/work/main/test/ota-e2e/helpers.ts';
const b = await buildMeter({ marker: 2 });
const env = buildRelease({ bytes: b, manifest: meterManifest('1.1.0'), keys: [readPrivateKeyFile('/tmp/kt/ota.key')], chunkSize: 1024 });
const c = await mqtt.connectAsync('mqtt://127.0.0.1:18830');
await publishRaw(c, { envelope: JSON.stringify(env), bytes: b, sha256: env.manifest.sha256, chunkSize: 1024 });
await c.endAsync();
