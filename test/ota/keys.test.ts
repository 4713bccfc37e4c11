import { createHash, createPublicKey } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { main } from '../../gateway/cli/main.js';
import { canonicalize } from '../../gateway/ota/jcs.js';
import { generateKeyPair, keyId, loadPrivateKey, loadPublicKey, rawPublicKey, readPrivateKeyFile, readPublicKeyFile, signManifest, verifyManifest } from '../../gateway/ota/keys.js';
import { tmp } from './helpers.js';

function io() {
  const out: string[] = [];
  const err: string[] = [];
  return { out, err, io: { out: (l: string) => out.push(l), err: (l: string) => err.push(l) } };
}

describe('Ed25519 keys', () => {
  it('generates PKCS#8 / SPKI PEM and a keyid over the raw 32-byte public key', () => {
    const pair = generateKeyPair();
    expect(pair.privateKeyPem).toMatch(/^-----BEGIN PRIVATE KEY-----/);
    expect(pair.publicKeyPem).toMatch(/^-----BEGIN PUBLIC KEY-----/);
    const pub = loadPublicKey(pair.publicKeyPem);
    const raw = rawPublicKey(pub);
    expect(raw.length).toBe(32);
    // SPKI DER for Ed25519 is a fixed 12-byte header followed by the raw key.
    const der = pub.export({ format: 'der', type: 'spki' });
    expect(Buffer.compare(der.subarray(12), raw)).toBe(0);
    expect(keyId(pub)).toBe(createHash('sha256').update(raw).digest('hex'));
    expect(keyId(loadPrivateKey(pair.privateKeyPem))).toBe(pair.keyid);
  });

  it('signs JCS(manifest): verifies regardless of key order, fails on any change or other key', () => {
    const pair = generateKeyPair();
    const priv = loadPrivateKey(pair.privateKeyPem);
    const pub = createPublicKey(priv);
    const m = { version: '1.0.0', component: 'thermo', size: 10 };
    const s = signManifest(m, priv);
    expect(s.keyid).toBe(pair.keyid);
    expect(verifyManifest({ size: 10, component: 'thermo', version: '1.0.0' }, s.sig, pub)).toBe(true);
    expect(verifyManifest({ ...m, size: 11 }, s.sig, pub)).toBe(false);
    expect(verifyManifest(m, s.sig, loadPublicKey(generateKeyPair().publicKeyPem))).toBe(false);
    expect(verifyManifest(m, 'not base64!', pub)).toBe(false);
    expect(verifyManifest(m, Buffer.alloc(64).toString('base64'), pub)).toBe(false);
    // What is signed is exactly the canonical text.
    expect(canonicalize(m)).toBe('{"component":"thermo","size":10,"version":"1.0.0"}');
  });

  it('rejects non-Ed25519 and non-PEM keys with a one-line fix', async () => {
    const { generateKeyPairSync } = await import('node:crypto');
    const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    expect(() => loadPrivateKey(ec.privateKey.export({ format: 'pem', type: 'pkcs8' }).toString())).toThrow(/not Ed25519; create one with `airssys keygen/);
    expect(() => loadPublicKey('hello')).toThrow(/not a PEM public key/);
    expect(() => readPublicKeyFile('/nonexistent/x.pub')).toThrow(/cannot read public key \/nonexistent\/x.pub \(ENOENT\); check the path/);
  });

  it('`airssys keygen --out PREFIX` writes a 0600 key and a pub that load, and refuses to overwrite', async () => {
    const dir = tmp('keygen');
    const prefix = join(dir, 'ota');
    const a = io();
    expect(await main(['keygen', '--out', prefix], a.io)).toBe(0);
    const priv = readPrivateKeyFile(`${prefix}.key`);
    const pub = readPublicKeyFile(`${prefix}.pub`);
    expect(keyId(priv)).toBe(keyId(pub));
    expect(a.out.join('\n')).toContain(keyId(pub));
    expect(statSync(`${prefix}.key`).mode & 0o777).toBe(0o600);
    expect(readFileSync(`${prefix}.pub`, 'utf8')).toMatch(/BEGIN PUBLIC KEY/);
    const b = io();
    expect(await main(['keygen', '--out', prefix], b.io)).toBe(1);
    expect(b.err[0]).toMatch(/already exists; pick another --out or pass --force/);
  });
});
