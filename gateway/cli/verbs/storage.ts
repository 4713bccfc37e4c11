import { existsSync, readFileSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { GatewayError } from '../../../runtime/errors.js';
import { flagString } from '../args.js';
import type { Verb } from '../io.js';
import { parseVerbArgs, usageError, type VerbSpec } from '../spec.js';
import { ASIDE_SUFFIX, BUCKET_SUFFIX, parseBucketText } from '../../../drivers/storage/store.js';

export const spec: VerbSpec = {
  name: 'storage',
  summary: "show a component's storage bucket from the gateway's data directory (storage ls|get)",
  usage: 'storage ls COMPONENT [options]',
  forms: ['storage get COMPONENT KEY [options]'],
  about:
    "For operators on the device: reads <data-dir>/storage/COMPONENT.json, the data directory coming from the gateway's config. " +
    'Read-only and lock-free: it works while the gateway runs (what it shows is the last flush, at most storage.flush-ms old) and when it is stopped. ' +
    '`ls` prints one line per key: the key, the value\'s size and the value (quoted text when it is printable UTF-8, else hex), and a summary on stderr. ' +
    '`get` prints one value: as text when printable UTF-8, else as hex (or as --hex/--base64 ask). ' +
    '--at-swap reads the copy kept aside when a new version was swapped in (it exists while an OTA release is in probation).',
  flags: [
    { name: 'config', short: 'c', arg: 'FILE', about: 'gateway configuration naming the data directory (default config/gateway.yaml)' },
    { name: 'data-dir', arg: 'DIR', about: 'read this data directory instead of the config\'s (e.g. the one given to `airssys run --data-dir`)' },
    { name: 'prefix', arg: 'P', about: 'ls: only keys starting with P' },
    { name: 'hex', about: 'get: print the value as hex whatever it holds' },
    { name: 'base64', about: 'get: print the value as base64 whatever it holds' },
    { name: 'at-swap', about: 'read the copy kept aside at the last version swap instead of the bucket' },
    { name: 'json', about: 'one JSON object on stdout: {"component","file","keys":[{"key","bytes","text"|"base64"}]} (get: {"component","key","bytes","text"|"base64"})' },
  ],
  examples: ['airssys storage ls weather --config /etc/airssys/gateway.yaml', 'airssys storage get soil cal/dry --config /etc/airssys/gateway.yaml'],
  exits: '0 shown, 1 no such key, no data directory or a damaged bucket file, 2 invalid arguments or an unknown component',
};

/** Component names as the manifest allows them (runtime/manifest.ts): safe as file names. */
const NAME_RE = /^[a-z0-9][a-z0-9-]{0,63}$/;

/** Printable UTF-8: decodes strictly and holds no control characters but tab, newline and CR. */
export function printableText(value: Uint8Array): string | undefined {
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(value);
  } catch {
    return undefined;
  }
  return /[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f-\u009f]/.test(text) ? undefined : text;
}

/** A key shown bare when it is plain, else JSON-quoted (spaces, control characters, quotes). */
const showKey = (key: string): string => (/^[\x21-\x7e\u00a0-\uffff]+$/.test(key) && !key.includes('"') ? key : JSON.stringify(key));

const PREVIEW_BYTES = 64;

function showValue(value: Uint8Array): string {
  const text = printableText(value);
  if (text !== undefined) {
    const q = JSON.stringify(text);
    return q.length > 2 * PREVIEW_BYTES ? `${q.slice(0, 2 * PREVIEW_BYTES)}…` : q;
  }
  const hex = Buffer.from(value.subarray(0, PREVIEW_BYTES)).toString('hex');
  return `hex ${hex}${value.length > PREVIEW_BYTES ? '…' : ''}`;
}

const asJson = (value: Uint8Array): { text: string } | { base64: string } => {
  const text = printableText(value);
  return text !== undefined ? { text } : { base64: Buffer.from(value).toString('base64') };
};

interface Target {
  dataDir: string;
  /** Where the data directory came from, for messages. */
  source: string;
  /** Component names the config knows (empty with --data-dir). */
  known: string[];
}

async function target(args: ReturnType<typeof parseVerbArgs>): Promise<Target> {
  const given = flagString(args, 'data-dir');
  if (given !== undefined) return { dataDir: resolve(given), source: '--data-dir', known: [] };
  // Loaded here, not at the top: `airssys --help` reads every verb's spec and must stay quick.
  const { loadConfig } = await import('../../config/index.js');
  const file = flagString(args, 'config') ?? 'config/gateway.yaml';
  const config = loadConfig(file);
  const known = [...new Set([...config.components.map((c) => c.manifest.name), ...config.policy.components.keys()])];
  return { dataDir: config.gateway.dataDir, source: `gateway.data-dir in ${file}`, known };
}

/** The bucket's entries (sorted by key); an empty list for a known component that has stored nothing yet. */
function readBucket(t: Target, component: string, atSwap: boolean): { file: string; entries: [string, Uint8Array][]; mtime: Date | undefined } {
  if (!existsSync(t.dataDir)) {
    throw new GatewayError('NO_DATA_DIR', `data directory ${t.dataDir} (${t.source}) does not exist; check the path, or start the gateway once so it creates it`);
  }
  const dir = join(t.dataDir, 'storage');
  const file = join(dir, `${component}${atSwap ? ASIDE_SUFFIX : BUCKET_SUFFIX}`);
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw new GatewayError('STORAGE_UNREADABLE', `cannot read ${file} (${(err as NodeJS.ErrnoException).code}); run as the gateway's user or with sudo`);
    const otaInstalled = existsSync(join(t.dataDir, 'components', component));
    if (!t.known.includes(component) && !otaInstalled && !existsSync(join(dir, `${component}${BUCKET_SUFFIX}`))) {
      const known = t.known.length ? `; the config names ${t.known.join(', ')}` : '';
      throw new GatewayError('UNKNOWN_TARGET', `no component ${JSON.stringify(component)} here: not in the config and no bucket in ${dir}${known}; check the name`);
    }
    if (atSwap) throw new GatewayError('NO_SWAP_COPY', `no copy of ${component}'s bucket is kept aside (${file}): none is, outside an OTA release's probation; drop --at-swap`);
    return { file, entries: [], mtime: undefined };
  }
  try {
    const entries = parseBucketText(text).entries.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return { file, entries, mtime: statSync(file).mtime };
  } catch (err) {
    throw new GatewayError('STORAGE_DAMAGED', `bucket file ${file} is damaged (${(err as Error).message}); the gateway keeps such a file aside as .corrupt-<ms> and starts the bucket empty when it next loads it`);
  }
}

/**
 * `airssys storage ls|get`: a component's bucket as the gateway last flushed it. Reading only the
 * bucket file (replaced by rename, so never seen half-written) needs neither the gateway's data-dir
 * lock nor its cooperation.
 */
export const run: Verb = async (argv, io) => {
  const args = parseVerbArgs(argv, spec);
  const [sub, component, ...rest] = args.positionals;
  if (sub !== 'ls' && sub !== 'get') throw usageError(spec, sub === undefined ? 'say ls or get' : `unknown sub-command ${JSON.stringify(sub)} (ls or get)`);
  if (component === undefined) throw usageError(spec, `give the component whose bucket to ${sub === 'ls' ? 'list' : 'read'}`);
  if (!NAME_RE.test(component)) throw usageError(spec, `${JSON.stringify(component.slice(0, 80))} is not a component name (lowercase letters, digits and -, at most 64)`);
  const json = args.flags.json === true;
  if (sub === 'ls') {
    if (rest.length) throw usageError(spec, `unexpected argument ${JSON.stringify(rest[0])}`);
    for (const f of ['hex', 'base64']) if (args.flags[f] === true) throw usageError(spec, `--${f} is for get`);
    const prefix = flagString(args, 'prefix') ?? '';
    const b = readBucket(await target(args), component, args.flags['at-swap'] === true);
    const entries = b.entries.filter(([k]) => k.startsWith(prefix));
    if (json) {
      io.out(JSON.stringify({ component, file: b.file, keys: entries.map(([key, v]) => ({ key, bytes: v.length, ...asJson(v) })) }));
      return 0;
    }
    const keys = entries.map(([k]) => showKey(k));
    const sizes = entries.map(([, v]) => `${v.length} B`);
    const kw = Math.max(0, ...keys.map((k) => k.length));
    const sw = Math.max(0, ...sizes.map((s) => s.length));
    entries.forEach(([, v], i) => io.out(`${keys[i]!.padEnd(kw)}  ${sizes[i]!.padStart(sw)}  ${showValue(v)}`));
    const bytes = entries.reduce((n, [k, v]) => n + Buffer.byteLength(k) + v.length, 0);
    const when = b.mtime ? `, flushed ${b.mtime.toISOString()}` : ' (nothing stored yet)';
    io.err(`${entries.length} key(s), ${bytes} bytes${prefix ? ` with prefix ${JSON.stringify(prefix)}` : ''} in ${b.file}${when}`);
    return 0;
  }
  // get
  const [key, ...more] = rest;
  if (key === undefined) throw usageError(spec, 'give the KEY to read');
  if (more.length) throw usageError(spec, `unexpected argument ${JSON.stringify(more[0])}`);
  if (args.flags.prefix !== undefined) throw usageError(spec, '--prefix is for ls');
  if (args.flags.hex === true && args.flags.base64 === true) throw usageError(spec, 'give --hex or --base64, not both');
  const b = readBucket(await target(args), component, args.flags['at-swap'] === true);
  const value = b.entries.find(([k]) => k === key)?.[1];
  if (value === undefined) {
    const near = b.entries.length ? `; it holds ${b.entries.length} key(s): see \`airssys storage ls ${component}\`` : '; it is empty';
    throw new GatewayError('NO_KEY', `${component} has no key ${JSON.stringify(key.slice(0, 256))} in ${b.file}${near}`);
  }
  if (json) io.out(JSON.stringify({ component, key, bytes: value.length, ...asJson(value) }));
  else if (args.flags.hex === true) io.out(Buffer.from(value).toString('hex'));
  else if (args.flags.base64 === true) io.out(Buffer.from(value).toString('base64'));
  else {
    const text = printableText(value);
    io.out(text ?? Buffer.from(value).toString('hex'));
    if (text === undefined) io.err(`(${value.length} bytes, not printable UTF-8: shown as hex; --base64 or --json for other forms)`);
  }
  return 0;
};
