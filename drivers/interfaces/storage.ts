import { storage as descriptor } from '../../runtime/interfaces/storage.js';
import { echo } from '../../runtime/echo.js';
import { MAX_STORAGE_BYTES, MAX_STORAGE_KEYS } from '../../runtime/manifest.js';
import { isObj, keys } from '../policy/policy-parts.js';
import { MAX_KEY_BYTES, MAX_VALUE_BYTES, type Bucket } from '../storage/bucket.js';
import { MemoryStore } from '../storage/store.js';
import { driver, type PolicyErrorFn } from './context.js';

/** A string the glue hands over is decoded UTF-8; a caller bypassing it could pass half a pair. */
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/** Role part: `storage: { max-bytes: 1048576, max-keys: 1024 }`, maxima a manifest's quota must fit. */
export interface StorageRole {
  maxBytes: number;
  maxKeys: number;
}

function limit(v: unknown, path: string, max: number, err: PolicyErrorFn): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 1 || v > max) throw err(path, `expected an integer from 1 to ${max}, got ${echo(v)}`, 'correct the number');
  return v;
}

/**
 * storage.get / set / delete / list-keys on the component's own bucket (contract 7.1): keys 1-256
 * bytes of UTF-8, values at most 65536 bytes (else `invalid`), the manifest's quota (else `limited`).
 * A component without `capabilities.storage` is `denied`. Buckets are keyed by component name, so
 * no component can name another's.
 */
export const storage = driver<'storageGet' | 'storageSet' | 'storageDelete' | 'storageListKeys', StorageRole | undefined>({
  descriptor,
  policy: {
    key: 'storage',
    parse(v, path, err) {
      if (v === undefined || v === null) return undefined;
      if (!isObj(v)) throw err(path, 'expected a mapping', 'write e.g. { max-bytes: 1048576, max-keys: 1024 }');
      keys(v, path, ['max-bytes', 'max-keys'], err);
      return {
        maxBytes: v['max-bytes'] === undefined ? MAX_STORAGE_BYTES : limit(v['max-bytes'], `${path}.max-bytes`, MAX_STORAGE_BYTES, err),
        maxKeys: v['max-keys'] === undefined ? MAX_STORAGE_KEYS : limit(v['max-keys'], `${path}.max-keys`, MAX_STORAGE_KEYS, err),
      };
    },
    check(manifest, roles, who, by) {
      const want = manifest.capabilities.storage;
      if (!want) return [];
      const held = roles.filter((r): r is StorageRole => r !== undefined);
      if (held.length === 0) return [`${who}: storage is not granted by ${by}`];
      const out: string[] = [];
      const maxBytes = Math.max(...held.map((r) => r.maxBytes));
      const maxKeys = Math.max(...held.map((r) => r.maxKeys));
      if (want.maxBytes > maxBytes) out.push(`${who}: storage.max-bytes ${want.maxBytes} exceeds ${maxBytes} allowed by ${by}`);
      if (want.maxKeys > maxKeys) out.push(`${who}: storage.max-keys ${want.maxKeys} exceeds ${maxKeys} allowed by ${by}`);
      return out;
    },
  },
  implement(ctx) {
    const { component, metrics: m, invalid, deny, limited } = ctx;
    const quota = ctx.grant.storage;
    const bucketLimiter = ctx.limiter.storage;
    const store = ctx.storage ?? new MemoryStore();
    let bucket: Bucket | undefined;
    const open = (op: string): Bucket => {
      if (!quota) deny(op, component.name, 'storage');
      if (bucketLimiter !== undefined && !bucketLimiter.take()) limited('storage');
      m.storage++;
      // Loaded on first use: a component that never touches storage never reads its file.
      bucket ??= store.bucket(component.name);
      return bucket;
    };
    const checkKey = (key: string, what: string): void => {
      if (typeof key !== 'string' || key.length === 0) invalid(`storage ${what} must be 1-${MAX_KEY_BYTES} bytes of UTF-8, got an empty string`);
      if (key.length > MAX_KEY_BYTES || Buffer.byteLength(key, 'utf8') > MAX_KEY_BYTES) invalid(`storage ${what} is longer than ${MAX_KEY_BYTES} bytes`);
      if (LONE_SURROGATE.test(key)) invalid(`storage ${what} is not valid UTF-8`);
    };
    return {
      storageGet(key: string): Uint8Array | undefined {
        checkKey(key, 'key');
        // A copy: the guest's memory must not alias the bucket.
        return open('storage.get').get(key)?.slice();
      },
      storageSet(key: string, value: Uint8Array): void {
        checkKey(key, 'key');
        if (!(value instanceof Uint8Array)) invalid('storage value must be bytes');
        if (value.length > MAX_VALUE_BYTES) invalid(`storage value of ${value.length} bytes exceeds ${MAX_VALUE_BYTES}`);
        const b = open('storage.set');
        // A full disk: what is set could not be made durable (issue 12); deletes still go through.
        const refused = store.refusal();
        if (refused !== undefined) limited(refused);
        if (!b.has(key) && b.size >= quota!.maxKeys) limited(`storage quota: ${quota!.maxKeys} keys (capabilities.storage.max-keys) are in use; delete keys or ask for more`);
        const after = b.bytesAfterSet(key, value);
        if (after > quota!.maxBytes) limited(`storage quota: this set would use ${after} of ${quota!.maxBytes} bytes (capabilities.storage.max-bytes); delete keys or ask for more`);
        b.set(key, value.slice());
      },
      storageDelete(key: string): boolean {
        checkKey(key, 'key');
        return open('storage.delete').delete(key);
      },
      storageListKeys(prefix: string): string[] {
        if (typeof prefix !== 'string') invalid('storage prefix must be a string');
        if (Buffer.byteLength(prefix, 'utf8') > MAX_KEY_BYTES) invalid(`storage prefix is longer than ${MAX_KEY_BYTES} bytes`);
        return open('storage.list-keys').keys(prefix);
      },
    };
  },
});
