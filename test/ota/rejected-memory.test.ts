import { describe, expect, it } from 'vitest';
import { sha256Hex } from '../../gateway/ota/envelope.js';
import type { MessageListener, MqttPort } from '../../gateway/ota/mqtt-port.js';
import { OtaStore } from '../../gateway/ota/store.js';
import { OtaUpdater, type OtaStatus } from '../../gateway/ota/updater.js';
import { FakeHost, makeRelease, newKey, tmp } from './helpers.js';

/**
 * The updater's memory of rejected envelopes (issue "Hardening" 2): keyed by topic + hash, so a copy
 * on another topic cannot suppress the real one, and bounded (LRU), so junk cannot grow it. The
 * end-to-end decoy case runs against the gateway process in test/gateway/inbound-hardening.test.ts.
 */
const key = newKey();
const stranger = newKey();

/** Statuses go nowhere but into `published`: this is about what the updater decides, not MQTT. */
function port(published: Array<{ topic: string; body: OtaStatus }>): MqttPort {
  return {
    subscribe: (_t, _o, cb) => cb?.(null),
    unsubscribe: (_t, cb) => cb?.(),
    publish: (topic, payload, _o, cb) => {
      published.push({ topic, body: JSON.parse(String(payload)) as OtaStatus });
      cb?.();
    },
    on: (_e, _l: MessageListener) => undefined,
    removeListener: (_e, _l: MessageListener) => undefined,
  };
}

async function rig(rememberRejected: number) {
  const published: Array<{ topic: string; body: OtaStatus }> = [];
  const store = await OtaStore.open(tmp('mem'));
  const updater = new OtaUpdater({ mqtt: port(published), store, host: new FakeHost({ thermo: '1.0.0' }), gatewayId: 'gw-1', trustedKeys: [key.pub], rememberRejected });
  await updater.start();
  const rejectedCount = (payload: Buffer) => published.filter((p) => p.body.phase === 'rejected' && p.body.envelope === sha256Hex(payload)).length;
  return { updater, published, rejectedCount };
}

/** A release for thermo signed by a key this gateway does not trust: rejected `untrusted-key`, deterministically. */
const untrusted = (version: string) => makeRelease({ version, keys: [stranger.priv] }).payload;

describe('rejected-envelope memory', () => {
  it('is keyed by topic + hash: the same bytes rejected on one topic are decided again on another', async () => {
    const r = await rig(256);
    const a = untrusted('1.1.0');
    await r.updater.handle('thermo', a, 'airssys/gw/gw-1/ota/thermo');
    await r.updater.handle('thermo', a, 'airssys/gw/gw-1/ota/thermo'); // replay on the same topic: ignored
    expect(r.rejectedCount(a)).toBe(1);
    await r.updater.handle('thermo', a, 'airssys/group/lab/ota/thermo'); // another topic: decided again
    expect(r.rejectedCount(a)).toBe(2);
  });

  it('is bounded: the least recently seen rejection is forgotten first', async () => {
    const r = await rig(2);
    const [a, b, c] = [untrusted('1.1.0'), untrusted('1.2.0'), untrusted('1.3.0')];
    const t = 'airssys/gw/gw-1/ota/thermo';
    await r.updater.handle('thermo', a, t);
    await r.updater.handle('thermo', b, t);
    await r.updater.handle('thermo', a, t); // remembered (and now the most recent)
    expect(r.rejectedCount(a)).toBe(1);
    await r.updater.handle('thermo', c, t); // evicts b, the least recent
    await r.updater.handle('thermo', a, t);
    expect(r.rejectedCount(a)).toBe(1);
    await r.updater.handle('thermo', b, t); // forgotten: decided (and rejected) again
    expect(r.rejectedCount(b)).toBe(2);
  });

  it('publishes no status for junk about a component this gateway never had, and does for one it has', async () => {
    const r = await rig(256);
    await r.updater.handle('ghost', Buffer.from('{"junk":1}'), 'airssys/gw/gw-1/ota/ghost');
    await r.updater.handle('thermo', Buffer.from('{"junk":1}'), 'airssys/gw/gw-1/ota/thermo');
    expect(r.published.map((p) => p.topic)).toEqual(['airssys/gw/gw-1/ota/thermo/status', 'airssys/gw/gw-1/ota/thermo/status']);
    // A release for a new component that a trusted key signed still gets its statuses.
    const fresh = makeRelease({ version: '1.0.0', keys: [key.priv], component: 'newcomer', edit: (m) => (m.expires = '2000-01-01T00:00:00Z') });
    await r.updater.handle('newcomer', fresh.payload, 'airssys/gw/gw-1/ota/newcomer');
    expect(r.published.filter((p) => p.topic.includes('/newcomer/')).map((p) => [p.body.phase, p.body.reason])).toEqual([['received', ''], ['rejected', 'expired']]);
  });
});
