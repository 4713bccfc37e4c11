/**
 * Seeded fuzzing of the gateway's input parsers (issue "Hardening"): OTA envelopes, gateway configs
 * and component manifests, framed serial streams. One PRNG (mulberry32), fixed seeds, no
 * dependencies, so a failing case is reproduced by its target, seed and index.
 *
 * The oracle, for every input:
 * - it is accepted, or refused with a coded error (GatewayError, or the OTA checker's result with a
 *   reason code): never a TypeError/RangeError/stack overflow escaping, never a stack trace;
 * - every refusal is one line (no "\n") of bounded length (MAX_LINE);
 * - no case takes longer than SLOW_MS (each case is synchronous; a real hang would stall the run).
 * The framer has stronger, exact properties (see fuzzFramer).
 *
 * test/fuzz/*.test.ts run a few hundred cases per target; `npm run bench -- fuzz` runs the full
 * counts (bench/fuzz.bench.ts), results in docs/hardening.md.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify as toYaml } from 'yaml';
import { checkManifestAgainstPolicy, parsePolicy } from '../../drivers/policy/policy.js';
import { Framer } from '../../drivers/serial/framer.js';
import { ConfigError, loadConfig, parseConfig } from '../../gateway/config/index.js';
import { checkEnvelope } from '../../gateway/ota/envelope.js';
import { generateKeyPair, loadPrivateKey, signManifest, trustStore } from '../../gateway/ota/keys.js';
import { buildReleaseManifest } from '../../gateway/ota/release.js';
import { GatewayError } from '../../runtime/errors.js';
import { parseFraming, parseManifest, type Framing } from '../../runtime/manifest.js';
import { createPublicKey } from 'node:crypto';

/** Longest refusal line accepted (a line that echoes a 60 KB key is a finding, not a message). */
export const MAX_LINE = 1000;
// A hang, not a slow case: this machine runs under heavy parallel load (a single case measured up to
// ~2 s there while its unloaded time is well under 0.5 s), and the suite must not time CPU.
export const SLOW_MS = 10_000;

export class Rng {
  private s: number;
  constructor(seed: number) {
    this.s = seed >>> 0;
  }
  /** mulberry32: uniform uint32. */
  u32(): number {
    let t = (this.s = (this.s + 0x6d2b79f5) >>> 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (t ^ (t >>> 14)) >>> 0;
  }
  int(n: number): number {
    return n <= 0 ? 0 : this.u32() % n;
  }
  range(lo: number, hi: number): number {
    return lo + this.int(hi - lo + 1);
  }
  bool(p = 0.5): boolean {
    return this.u32() / 2 ** 32 < p;
  }
  pick<T>(xs: readonly T[]): T {
    return xs[this.int(xs.length)]!;
  }
}

export type FindingKind = 'uncaught' | 'multi-line' | 'too-long' | 'stack-trace' | 'slow' | 'invariant';

export interface Finding {
  target: string;
  index: number;
  kind: FindingKind;
  /** First 300 characters of the error or of the broken invariant. */
  message: string;
  /** First 300 characters of the input. */
  input: string;
}

export interface FuzzReport {
  target: string;
  seed: number;
  cases: number;
  accepted: number;
  refused: number;
  findings: Finding[];
  /** Longest refusal line seen. */
  longestLine: number;
  slowestMs: number;
}

const clip = (s: string, n = 300) => (s.length > n ? `${s.slice(0, n)}… (${s.length} chars)` : s);

function newReport(target: string, seed: number): FuzzReport {
  return { target, seed, cases: 0, accepted: 0, refused: 0, findings: [], longestLine: 0, slowestMs: 0 };
}

/** Checks one refusal line (a GatewayError message, a ConfigError problem, an OTA detail). */
function checkLine(r: FuzzReport, index: number, line: string, input: string): void {
  r.longestLine = Math.max(r.longestLine, line.length);
  if (/\n\s+at .+[:(]/.test(line) || /^\s+at /m.test(line)) r.findings.push({ target: r.target, index, kind: 'stack-trace', message: clip(line), input: clip(input) });
  else if (line.includes('\n')) r.findings.push({ target: r.target, index, kind: 'multi-line', message: clip(line), input: clip(input) });
  if (line.length > MAX_LINE) r.findings.push({ target: r.target, index, kind: 'too-long', message: clip(line), input: clip(input) });
}

/** Runs one case: `run` returns accepted (true) or the refusal lines; throwing is judged here. */
function runCase(r: FuzzReport, index: number, input: () => string, run: () => true | string[]): void {
  r.cases++;
  const t = performance.now();
  try {
    const out = run();
    if (out === true) r.accepted++;
    else {
      r.refused++;
      for (const line of out) checkLine(r, index, line, input());
    }
  } catch (err) {
    if (err instanceof ConfigError) {
      r.refused++;
      for (const line of err.problems) checkLine(r, index, line, input());
    } else if (err instanceof GatewayError) {
      r.refused++;
      checkLine(r, index, err.message, input());
    } else {
      r.findings.push({ target: r.target, index, kind: 'uncaught', message: clip(`${(err as Error)?.name}: ${(err as Error)?.message ?? String(err)}`), input: clip(input()) });
    }
  }
  const ms = performance.now() - t;
  r.slowestMs = Math.max(r.slowestMs, ms);
  if (ms > SLOW_MS) r.findings.push({ target: r.target, index, kind: 'slow', message: `${ms.toFixed(0)} ms`, input: clip(input()) });
}

// ---- value mutation ------------------------------------------------------------------------------

const UNICODE = ['é', '名前', '🙂', '\u202e', '\u0000', '\ud800', 'e\u0301', '\ufeff', '\u2028', 'Ω≈ç√', '\u{10ffff}'];
const HUGE = [1e308, -1e308, 2 ** 53, 2 ** 53 + 2, -(2 ** 53), 2 ** 31, 2 ** 32, -1, -0, 0, 0.5, 1e-320, 4294967296.5, Number.MAX_SAFE_INTEGER, 1e21];

function randomString(rng: Rng): string {
  switch (rng.int(6)) {
    case 0:
      return '';
    case 1:
      return rng.pick(UNICODE).repeat(rng.range(1, 4));
    case 2:
      return 'x'.repeat(rng.pick([64, 65, 256, 4097, 70_000]));
    case 3:
      return rng.pick(['../../etc/passwd', '#', '+', 'a/b/#', 'group:', '/dev/ttyUSB0', 'delimiter:', 'delimiter:zz', 'delimiter:0d0a', 'line', 'bytes', '1.0.0', '99999999999999999999.0.0', '1.0.0-rc.1+b', 'mqtt://', 'embedded', 'true', 'null', '0x10', '1e3']);
    case 4:
      // Names an object lookup may find on Object.prototype.
      return rng.bool() ? rng.pick(['__proto__', 'constructor', 'toString', 'hasOwnProperty', 'valueOf']) : `k${rng.u32().toString(36)}${rng.pick(UNICODE)}`;
    default:
      return String.fromCharCode(...Array.from({ length: rng.range(1, 12) }, () => rng.range(0, 0xffff)));
  }
}

function deep(rng: Rng, depth: number): unknown {
  let v: unknown = rng.bool() ? 1 : 'leaf';
  const obj = rng.bool();
  for (let i = 0; i < depth; i++) v = obj ? { a: v } : [v];
  return v;
}

export function randomValue(rng: Rng, level = 0): unknown {
  switch (rng.int(level > 2 ? 6 : 9)) {
    case 0:
      return null;
    case 1:
      return rng.bool();
    case 2:
      return rng.pick(HUGE);
    case 3:
      return rng.range(-5, 70_000);
    case 4:
    case 5:
      return randomString(rng);
    case 6:
      return Array.from({ length: rng.range(0, 4) }, () => randomValue(rng, level + 1));
    case 7:
      return Object.fromEntries(Array.from({ length: rng.range(0, 3) }, () => [randomString(rng), randomValue(rng, level + 1)]));
    default:
      return deep(rng, rng.pick([10, 100, 1000]));
  }
}

type Container = Record<string, unknown> | unknown[];
const isContainer = (v: unknown): v is Container => typeof v === 'object' && v !== null;

/** Every (container, key) in the tree, so a mutation may hit any depth. */
function slots(v: unknown, out: Array<[Container, string | number]> = [], depth = 0): Array<[Container, string | number]> {
  if (!isContainer(v) || depth > 12) return out;
  if (Array.isArray(v)) v.forEach((x, i) => (out.push([v, i]), slots(x, out, depth + 1)));
  else for (const k of Object.keys(v)) out.push([v, k]), slots(v[k], out, depth + 1);
  return out;
}

/** One to three structural mutations of a JSON-like value (mutates a copy; returns it). */
export function mutateValue(rng: Rng, value: unknown): unknown {
  const root = structuredClone(value) as unknown;
  const n = rng.range(1, 3);
  for (let i = 0; i < n; i++) {
    const all = slots(root);
    if (all.length === 0) return randomValue(rng);
    const [c, k] = rng.pick(all);
    const cur = (c as Record<string | number, unknown>)[k];
    switch (rng.int(9)) {
      case 0: // delete
        if (Array.isArray(c)) c.splice(k as number, 1);
        else delete c[k as string];
        break;
      case 1: // type swap
      case 2:
        (c as Record<string | number, unknown>)[k] = randomValue(rng);
        break;
      case 3: // huge number
        (c as Record<string | number, unknown>)[k] = rng.pick(HUGE);
        break;
      case 4: // unknown key
        if (!Array.isArray(c)) c[randomString(rng)] = randomValue(rng);
        else c.push(randomValue(rng));
        break;
      case 5: // deep nesting
        (c as Record<string | number, unknown>)[k] = deep(rng, rng.pick([50, 500, 1500]));
        break;
      case 6: // unicode / long strings in place of a string
        (c as Record<string | number, unknown>)[k] = typeof cur === 'string' ? cur + rng.pick(UNICODE) : randomString(rng);
        break;
      case 7: // wrap
        (c as Record<string | number, unknown>)[k] = rng.bool() ? [cur] : { value: cur };
        break;
      default: // numbers nudged across their bounds
        (c as Record<string | number, unknown>)[k] = typeof cur === 'number' ? rng.pick([cur + 1, cur - 1, -cur, cur * 1000, cur + 0.5]) : rng.range(-1, 1_000_000);
    }
  }
  return root;
}

/** Byte-level damage: bit flips, truncation, inserted/deleted/duplicated runs. */
export function mutateBytes(rng: Rng, input: Uint8Array): Uint8Array {
  let b = Buffer.from(input);
  const n = rng.range(1, 4);
  for (let i = 0; i < n; i++) {
    const at = rng.int(b.length + 1);
    switch (rng.int(5)) {
      case 0:
        if (b.length) b[Math.min(at, b.length - 1)]! ^= 1 << rng.int(8);
        break;
      case 1:
        b = b.subarray(0, at);
        break;
      case 2:
        b = Buffer.concat([b.subarray(0, at), Buffer.from(Array.from({ length: rng.range(1, 16) }, () => rng.int(256))), b.subarray(at)]);
        break;
      case 3:
        b = Buffer.concat([b.subarray(0, at), b.subarray(Math.min(b.length, at + rng.range(1, 64)))]);
        break;
      default: {
        const len = rng.range(1, 200);
        b = Buffer.concat([b.subarray(0, at), b.subarray(at, at + len), b.subarray(at)]);
      }
    }
  }
  return new Uint8Array(b);
}

// ---- OTA envelopes -------------------------------------------------------------------------------

const POLICY = parsePolicy({ roles: { r: { gpio: { read: [17], write: [22], watch: [17] }, serial: ['/dev/ttyUSB0'], telemetry: ['*'], messaging: { send: ['t/#'], receive: ['cmd/#'] } } }, components: { thermo: ['r'] } });

export function fuzzEnvelopes(seed: number, cases: number): FuzzReport {
  const rng = new Rng(seed);
  const r = newReport('ota-envelope', seed);
  const pair = generateKeyPair();
  const priv = loadPrivateKey(pair.privateKeyPem);
  const trusted = trustStore([createPublicKey(priv)]);
  const bytes = new Uint8Array(5000).fill(7);
  const manifest = buildReleaseManifest({
    bytes,
    manifest: {
      name: 'thermo',
      version: '1.2.0',
      'tick-ms': 1000,
      capabilities: { gpio: { read: [17], write: [22], watch: [{ pin: 17, edge: 'both', 'debounce-ms': 20 }] }, serial: [{ port: '/dev/ttyUSB0', baud: 9600, framing: 'line' }], telemetry: ['temp'], messaging: { send: ['t/x'], receive: ['cmd/#'] }, config: { a: '1' } },
      limits: { 'memory-mb': 16, fuel: 1000000, mailbox: 10 },
      restart: { policy: 'transient', intensity: 3, 'period-ms': 1000 },
    },
    chunkSize: 1024,
  }) as unknown as Record<string, unknown>;
  (manifest as Record<string, unknown>).expires = '2099-01-01T00:00:00Z';
  (manifest as Record<string, unknown>).targets = ['gw-1', 'group:lab'];
  const sign = (m: unknown) => {
    try {
      return [signManifest(m, priv)];
    } catch {
      // JCS refuses some values (e.g. lone surrogates in some versions); an unsigned envelope then.
      return [];
    }
  };
  const good = Buffer.from(JSON.stringify({ manifest, signatures: sign(manifest) }));
  const opts = {
    gatewayId: 'gw-1',
    groups: ['lab'],
    trustedKeys: trusted,
    threshold: 1,
    maxArtifactBytes: 1_000_000,
    component: 'thermo',
    floor: () => '1.0.0',
    checkCapabilities: (m: Parameters<typeof checkManifestAgainstPolicy>[0]) => checkManifestAgainstPolicy(m, POLICY),
    now: () => Date.parse('2026-01-01T00:00:00Z'),
  };
  for (let i = 0; i < cases; i++) {
    let payload: Uint8Array;
    const mode = rng.int(10);
    if (mode < 3) {
      payload = mutateBytes(rng, good); // damaged in transit
    } else if (mode < 4) {
      // Nesting deeper than JSON.stringify can write: raw text, inside a field or at the top.
      const d = rng.pick([1000, 10_000, 30_000]);
      const open = rng.bool() ? '['.repeat(d) : '{"a":'.repeat(d);
      const close = open.startsWith('[') ? ']'.repeat(d) : '}'.repeat(d);
      const m = JSON.stringify(manifest).replace('"limits":{', `"limits":{"x":${open}1${close},`);
      // A trusted keyid with a signature that cannot verify: the verifier canonicalizes the deep value.
      const sigs = JSON.stringify([{ keyid: pair.keyid, sig: Buffer.alloc(64, 1).toString('base64') }]);
      payload = Buffer.from(rng.bool(0.7) ? `{"manifest":${m},"signatures":${sigs}}` : `${open}1${close}`);
    } else if (mode < 8) {
      // A signer who signs anything: the manifest mutated, then signed, reaches every later check.
      const m = mutateValue(rng, manifest);
      payload = Buffer.from(JSON.stringify({ manifest: m, signatures: sign(m) }));
    } else {
      payload = Buffer.from(JSON.stringify(mutateValue(rng, { manifest, signatures: sign(manifest) })));
    }
    runCase(
      r,
      i,
      () => Buffer.from(payload).toString('utf8'),
      () => {
        const res = checkEnvelope(payload, opts);
        return res.ok ? true : [res.detail];
      },
    );
  }
  return r;
}

// ---- configs and manifests -----------------------------------------------------------------------

const BASE_MANIFEST = {
  name: 'thermostat',
  version: '1.0.0',
  'tick-ms': 5000,
  capabilities: {
    gpio: { read: [17], write: [22], watch: [{ pin: 17, edge: 'both', 'debounce-ms': 20 }] },
    serial: [{ port: '/dev/ttyUSB0', baud: 9600, framing: 'line' }, { port: '/dev/ttyACM0', baud: 115200, framing: 'delimiter:0d0a' }],
    telemetry: ['temperature', 'humidity'],
    messaging: { send: ['thermo/#'], receive: ['setpoint'] },
    config: { setpoint: '21.5' },
  },
  limits: { 'memory-mb': 4, fuel: 5000000, mailbox: 100 },
  restart: { policy: 'permanent', intensity: 5, 'period-ms': 60000 },
};

function baseConfig(dir: string): Record<string, unknown> {
  return {
    gateway: { id: 'gw-1', 'data-dir': './var', groups: ['lab'] },
    mqtt: { url: 'mqtt://127.0.0.1:1883', 'topic-prefix': 'airssys', 'keepalive-s': 30 },
    board: { kind: 'sim', options: { scenario: { gpio: [{ pin: 17, 'period-ms': 400 }] } } },
    ota: { 'trusted-keys': [], threshold: 1, 'max-artifact-bytes': 33554432 },
    policy: { roles: { climate: { gpio: { write: [22] }, serial: ['/dev/ttyUSB0'], telemetry: ['temperature'], messaging: { receive: ['setpoint'] } } }, components: { thermostat: ['climate'] } },
    components: [{ source: join(dir, 'c.wasm'), manifest: BASE_MANIFEST }],
    telemetry: { 'health-interval-ms': 30000 },
    log: { level: 'info' },
  };
}

/** Block YAML; JSON where the yaml package cannot write it (very deep nesting). */
function yamlOrJson(v: unknown): Buffer {
  try {
    return Buffer.from(toYaml(v));
  } catch {
    return Buffer.from(JSON.stringify(v));
  }
}

export function fuzzConfigs(seed: number, cases: number): FuzzReport[] {
  const rng = new Rng(seed);
  const cfg = newReport('config (parseConfig)', seed);
  const yaml = newReport('config file (loadConfig, damaged YAML)', seed);
  const man = newReport('manifest (parseManifest)', seed);
  const dir = mkdtempSync(join(tmpdir(), 'airssys-fuzz-cfg-'));
  try {
    writeFileSync(join(dir, 'c.wasm'), 'not really wasm');
    const base = baseConfig(dir);
    const text = Buffer.from(toYaml(base));
    const file = join(dir, 'gateway.yaml');
    for (let i = 0; i < cases; i++) {
      const raw = mutateValue(rng, base);
      runCase(cfg, i, () => JSON.stringify(raw), () => (parseConfig(raw, { baseDir: dir, env: {}, hostname: 'fuzz' }), true));

      // Damaged bytes, or a mutated config written as JSON (which YAML 1.2 reads), or as block YAML.
      const mode = rng.int(3);
      const damaged = mode === 0 ? mutateBytes(rng, text) : mode === 1 ? Buffer.from(JSON.stringify(mutateValue(rng, base))) : yamlOrJson(mutateValue(rng, base));
      writeFileSync(file, damaged);
      runCase(yaml, i, () => Buffer.from(damaged).toString('utf8'), () => (loadConfig(file, { env: {}, hostname: 'fuzz' }), true));

      const m = mutateValue(rng, BASE_MANIFEST);
      runCase(man, i, () => JSON.stringify(m), () => (parseManifest(m), true));
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  return [cfg, yaml, man];
}

// ---- framed serial streams -----------------------------------------------------------------------

const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');

/** The frames a stream must give when no frame outgrows the buffer: split, CR-strip, drop empties. */
function referenceFrames(stream: Uint8Array, delim: Uint8Array, stripCr: boolean): { frames: string[]; longest: number; rest: number } {
  const frames: string[] = [];
  const s = Buffer.from(stream);
  let from = 0;
  let longest = 0;
  for (;;) {
    const at = s.indexOf(delim, from);
    if (at < 0) break;
    let f = s.subarray(from, at);
    longest = Math.max(longest, f.length);
    if (stripCr && f.length && f[f.length - 1] === 0x0d) f = f.subarray(0, f.length - 1);
    if (f.length) frames.push(hex(f));
    from = at + delim.length;
  }
  return { frames, longest, rest: s.length - from };
}

export function fuzzFramer(seed: number, cases: number): FuzzReport {
  const rng = new Rng(seed);
  const r = newReport('serial framer', seed);
  const texts = ['line', 'bytes', 'delimiter:0a', 'delimiter:0d0a', 'delimiter:7e', 'delimiter:abab', 'delimiter:616161', 'delimiter:00', 'delimiter:ff00ff'];
  for (let i = 0; i < cases; i++) {
    // Framing text: mostly valid, sometimes random (parseFraming must refuse it in one line).
    const text = rng.bool(0.85) ? rng.pick(texts) : rng.bool() ? `delimiter:${randomString(rng)}` : randomString(rng);
    let framing: Framing;
    try {
      framing = parseFraming(text, 'capabilities.serial[0].framing');
    } catch (err) {
      runCase(r, i, () => text, () => {
        throw err;
      });
      continue;
    }
    const max = rng.pick([1, 2, 3, 8, 64, 4096]);
    const delim = framing.kind === 'delimiter' ? framing.delimiter : Uint8Array.of(0x0a);
    // A stream biased towards delimiters, CRs and partial delimiters.
    const parts: number[] = [];
    const len = rng.range(0, 3000);
    while (parts.length < len) {
      const p = rng.int(10);
      if (p < 2) parts.push(...delim);
      else if (p < 3) parts.push(...delim.subarray(0, rng.int(delim.length)));
      else if (p < 4) parts.push(0x0d);
      else parts.push(rng.int(256));
    }
    const stream = Uint8Array.from(parts);
    const input = () => `${text} max=${max} ${hex(stream).slice(0, 200)}`;
    runCase(r, i, input, () => {
      const whole: string[] = [];
      const chunked: Uint8Array[] = [];
      const a = new Framer(framing, (f) => whole.push(hex(f)), { maxFrameBytes: max });
      a.push(stream);
      const b = new Framer(framing, (f) => chunked.push(f), { maxFrameBytes: max });
      for (let off = 0; off < stream.length; ) {
        const n = rng.range(0, 40);
        b.push(stream.subarray(off, off + n));
        off += n;
      }
      const problems: string[] = [];
      for (const f of [...chunked]) {
        if (f.length === 0) problems.push('an empty frame was delivered');
        if (f.length > max) problems.push(`a frame of ${f.length} bytes outgrew maxFrameBytes ${max}`);
      }
      if (framing.kind === 'bytes') {
        if (Buffer.compare(Buffer.concat(chunked), Buffer.from(stream)) !== 0) problems.push('bytes framing lost or reordered bytes');
      } else {
        const got = chunked.map(hex);
        if (JSON.stringify(got) !== JSON.stringify(whole)) problems.push('frames depend on how the stream was chunked');
        const ref = referenceFrames(stream, delim, framing.kind === 'line');
        // Without an overflow the frames are exactly the reference split.
        if (b.stats.overflows === 0 && ref.longest <= max && JSON.stringify(got) !== JSON.stringify(ref.frames)) problems.push('frames differ from the reference split');
      }
      if (b.stats.frames !== chunked.length) problems.push(`stats.frames ${b.stats.frames} but ${chunked.length} delivered`);
      if (problems.length) {
        r.findings.push({ target: r.target, index: i, kind: 'invariant', message: problems[0]!, input: clip(input()) });
      }
      return true;
    });
  }
  return r;
}

export function summary(reports: FuzzReport[]): string {
  return reports
    .map((r) => `${r.target} (seed ${r.seed}): ${r.cases} cases, ${r.accepted} accepted, ${r.refused} refused, ${r.findings.length} findings, longest refusal ${r.longestLine} chars, slowest ${r.slowestMs.toFixed(1)} ms`)
    .join('\n');
}
