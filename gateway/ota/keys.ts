import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync, sign, verify, type KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { GatewayError } from '../../runtime/errors.js';
import { canonicalBytes } from './jcs.js';

/**
 * Ed25519 keys for OTA releases (contract section 5): PEM on disk (PKCS#8 private, SPKI public),
 * identified by `keyid` = lowercase hex SHA-256 of the raw 32-byte public key, signing the RFC 8785
 * canonical JSON of the release manifest.
 */

export interface KeyPairPem {
  privateKeyPem: string;
  publicKeyPem: string;
  keyid: string;
}

export interface Signature {
  keyid: string;
  sig: string;
}

export function generateKeyPair(): KeyPairPem {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  return {
    privateKeyPem: privateKey.export({ format: 'pem', type: 'pkcs8' }).toString(),
    publicKeyPem: publicKey.export({ format: 'pem', type: 'spki' }).toString(),
    keyid: keyId(publicKey),
  };
}

function requireEd25519(key: KeyObject, what: string): KeyObject {
  if (key.asymmetricKeyType !== 'ed25519') {
    throw new GatewayError('BAD_KEY', `${what} is a ${key.asymmetricKeyType ?? 'non-asymmetric'} key, not Ed25519; create one with \`airssys keygen --out PREFIX\``);
  }
  return key;
}

/** A private key from PKCS#8 PEM text. */
export function loadPrivateKey(pem: string, what = 'private key'): KeyObject {
  let key: KeyObject;
  try {
    key = createPrivateKey({ key: pem, format: 'pem' });
  } catch (err) {
    throw new GatewayError('BAD_KEY', `${what} is not a PEM private key (${(err as Error).message}); use the .key file written by \`airssys keygen\``);
  }
  return requireEd25519(key, what);
}

/** A public key from SPKI PEM text (a private key PEM is accepted too: its public half is used). */
export function loadPublicKey(pem: string, what = 'public key'): KeyObject {
  let key: KeyObject;
  try {
    key = createPublicKey({ key: pem, format: 'pem' });
  } catch (err) {
    throw new GatewayError('BAD_KEY', `${what} is not a PEM public key (${(err as Error).message}); use the .pub file written by \`airssys keygen\``);
  }
  return requireEd25519(key, what);
}

function readText(path: string, what: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (err) {
    throw new GatewayError('BAD_KEY', `cannot read ${what} ${path} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message}); check the path`);
  }
}

export const readPrivateKeyFile = (path: string): KeyObject => loadPrivateKey(readText(path, 'private key'), `private key ${path}`);
export const readPublicKeyFile = (path: string): KeyObject => loadPublicKey(readText(path, 'public key'), `public key ${path}`);

/** The raw 32-byte Ed25519 public key (from a public or private KeyObject). */
export function rawPublicKey(key: KeyObject): Buffer {
  const pub = key.type === 'private' ? createPublicKey(key) : key;
  const jwk = pub.export({ format: 'jwk' });
  if (typeof jwk.x !== 'string') throw new GatewayError('BAD_KEY', 'key has no Ed25519 public part; use a key written by `airssys keygen`');
  return Buffer.from(jwk.x, 'base64url');
}

/** keyid: lowercase hex SHA-256 of the raw public key. */
export function keyId(key: KeyObject): string {
  return createHash('sha256').update(rawPublicKey(key)).digest('hex');
}

/** Signs JCS(manifest). */
export function signManifest(manifest: unknown, privateKey: KeyObject): Signature {
  const sig = sign(null, canonicalBytes(manifest), privateKey).toString('base64');
  return { keyid: keyId(privateKey), sig };
}

/** True when `sig` (base64) is a valid signature of JCS(manifest) by `publicKey`. Never throws on bad input. */
export function verifyManifest(manifest: unknown, sig: string, publicKey: KeyObject): boolean {
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(sig)) return false;
  const bytes = Buffer.from(sig, 'base64');
  if (bytes.length !== 64) return false;
  try {
    return verify(null, canonicalBytes(manifest), publicKey, bytes);
  } catch {
    return false;
  }
}

/** Trusted keys indexed by keyid, as the envelope check wants them. */
export function trustStore(keys: KeyObject[]): Map<string, KeyObject> {
  return new Map(keys.map((k) => [keyId(k), k.type === 'private' ? createPublicKey(k) : k]));
}
