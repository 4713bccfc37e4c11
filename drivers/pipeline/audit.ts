import { createHash, createHmac } from 'node:crypto';
import { closeSync, createReadStream, existsSync, fstatSync, mkdirSync, openSync, readSync } from 'node:fs';
import { dirname } from 'node:path';
import { createInterface } from 'node:readline';
import { pino, type DestinationStream, type Logger } from 'pino';
import { codedError } from '../../runtime/errors.js';

/**
 * Tamper-evident audit log, written through pino as JSON lines. Each record carries
 *   prev: sha256 of the previous record's full line (64 zeros for the first record), and
 *   hash: sha256 (or HMAC-SHA256 with `hmacKey`) of its own line up to and including `prev`,
 *         i.e. of the record text with `,"hash":"…"` removed.
 * Editing a line breaks its `hash`; removing, inserting or reordering lines breaks the next `prev`.
 * Without a key anyone can recompute a whole forged chain, so either set `hmacKey` or anchor the
 * head (`audit.head()`, published elsewhere) and pass it to `verifyAuditLog` to also catch a
 * truncated tail. Only rare events are written (denials, device grants and releases), so the
 * allowed-call hot path never touches this module.
 */

/** createAudit was given neither a file nor a stream to write to. */
export const NoAuditDestination = codedError<[]>('AUDIT_DESTINATION', 'createAudit: no audit destination; pass `file` (a path) or `destination` (a stream)');

export type AuditDecision = 'denied' | 'granted' | 'released' | 'suppressed';

export interface AuditEntry {
  component: string;
  version: string;
  /** e.g. gpio.write, serial.open, telemetry.publish */
  op: string;
  /** e.g. "pin 22", "/dev/ttyUSB0", "temperature" */
  target: string;
  reason?: string;
}

export interface AuditOptions {
  /** Append to this file (created with its directory). The chain continues from its last line. */
  file?: string;
  /** Or write to any pino destination (tests); the chain then starts from genesis. */
  destination?: DestinationStream;
  hmacKey?: string | Buffer;
  /** Denial records per component per second before the rest are summarised; default 50. */
  maxDenialsPerSec?: number;
  now?: () => number;
}

export interface Audit {
  denied(e: AuditEntry): void;
  granted(e: AuditEntry): void;
  released(e: AuditEntry): void;
  /** sha256 of the last line written: anchor it elsewhere to detect truncation. */
  head(): string;
  /** Records written since creation. */
  readonly written: number;
  close(): Promise<void>;
}

export const GENESIS = '0'.repeat(64);
const sha256 = (s: string) => createHash('sha256').update(s).digest('hex');
const HASH_TAIL = /^(.*),"hash":"([0-9a-f]{64})"\}$/;

function lastLine(file: string): string | undefined {
  if (!existsSync(file)) return undefined;
  const fd = openSync(file, 'r');
  try {
    const size = fstatSync(fd).size;
    if (size === 0) return undefined;
    // Records are short; 64 KiB from the end always holds the whole last line.
    const len = Math.min(size, 65536);
    const buf = Buffer.alloc(len);
    readSync(fd, buf, 0, len, size - len);
    const lines = buf.toString('utf8').split('\n').filter((l) => l.length > 0);
    return lines[lines.length - 1];
  } finally {
    closeSync(fd);
  }
}

export function createAudit(opts: AuditOptions): Audit {
  const keyed = opts.hmacKey;
  const digest = (s: string) => (keyed === undefined ? sha256(s) : createHmac('sha256', keyed).update(s).digest('hex'));
  let prev = GENESIS;
  let dest: DestinationStream;
  let sonic: ReturnType<typeof pino.destination> | undefined;
  if (opts.file) {
    mkdirSync(dirname(opts.file), { recursive: true });
    const last = lastLine(opts.file);
    if (last !== undefined) prev = sha256(last);
    // Sync writes: audit records are rare and must not be lost if the process dies right after.
    sonic = pino.destination({ dest: opts.file, sync: true, append: true });
    dest = sonic;
  } else if (opts.destination) {
    dest = opts.destination;
  } else {
    throw new NoAuditDestination();
  }
  let written = 0;
  const chain = (s: string): string => {
    // pino hands us the finished line `{...}\n`; append prev and hash inside the object.
    const body = `${s.slice(0, s.lastIndexOf('}'))},"prev":"${prev}"`;
    const line = `${body},"hash":"${digest(`${body}}`)}"}`;
    prev = sha256(line);
    written++;
    return `${line}\n`;
  };
  const logger: Logger = pino(
    {
      base: undefined,
      messageKey: 'msg',
      formatters: { level: (label) => ({ level: label }) },
      hooks: { streamWrite: chain },
    },
    dest,
  );

  const max = opts.maxDenialsPerSec ?? 50;
  const now = opts.now ?? Date.now;
  const windows = new Map<string, { start: number; count: number; suppressed: number; version: string }>();
  const flushSuppressed = (component: string, w: { suppressed: number; version: string }) => {
    if (w.suppressed === 0) return;
    logger.warn({ component, version: w.version, op: '*', target: '*', decision: 'suppressed', reason: `${w.suppressed} further denials within one second were counted but not written` }, 'audit');
    w.suppressed = 0;
  };

  return {
    denied(e) {
      // A guest hammering a denied call must not flood the disk: past `max` per second, count only.
      const t = now();
      let w = windows.get(e.component);
      if (!w) windows.set(e.component, (w = { start: t, count: 0, suppressed: 0, version: e.version }));
      if (t - w.start >= 1000) {
        flushSuppressed(e.component, w);
        w.start = t;
        w.count = 0;
      }
      w.version = e.version;
      if (++w.count > max) {
        w.suppressed++;
        return;
      }
      logger.warn({ ...e, decision: 'denied' }, 'audit');
    },
    granted(e) {
      logger.info({ ...e, decision: 'granted' }, 'audit');
    },
    released(e) {
      logger.info({ ...e, decision: 'released' }, 'audit');
    },
    head: () => prev,
    get written() {
      return written;
    },
    async close() {
      for (const [c, w] of windows) flushSuppressed(c, w);
      if (sonic) {
        sonic.flushSync();
        sonic.end();
      }
    },
  };
}

export type AuditVerifyResult =
  | { ok: true; records: number; head: string }
  | { ok: false; records: number; line: number; reason: string };

/**
 * Checks the chain of an audit file. Returns the first broken line (1-based) and why, or ok with
 * the head; pass `head` (an anchored value) to also detect a truncated tail.
 */
export async function verifyAuditLog(file: string, opts: { hmacKey?: string | Buffer; head?: string } = {}): Promise<AuditVerifyResult> {
  const digest = (s: string) => (opts.hmacKey === undefined ? sha256(s) : createHmac('sha256', opts.hmacKey).update(s).digest('hex'));
  const rl = createInterface({ input: createReadStream(file, 'utf8'), crlfDelay: Infinity });
  let expected = GENESIS;
  let n = 0;
  let lineNo = 0;
  try {
    for await (const line of rl) {
      lineNo++;
      if (line.length === 0) return { ok: false, records: n, line: lineNo, reason: 'empty line' };
      const m = HASH_TAIL.exec(line);
      if (!m) return { ok: false, records: n, line: lineNo, reason: 'no hash field at the end of the record' };
      const body = `${m[1]}}`;
      if (digest(body) !== m[2]) return { ok: false, records: n, line: lineNo, reason: 'hash does not match the record (record edited, or wrong key)' };
      let rec: { prev?: unknown };
      try {
        rec = JSON.parse(body) as { prev?: unknown };
      } catch {
        return { ok: false, records: n, line: lineNo, reason: 'record is not valid JSON' };
      }
      if (rec.prev !== expected) {
        return { ok: false, records: n, line: lineNo, reason: n === 0 ? 'first record does not start the chain (records removed from the start)' : 'prev does not match the previous line (a record was removed, inserted or reordered)' };
      }
      expected = sha256(line);
      n++;
    }
  } finally {
    rl.close();
  }
  if (opts.head !== undefined && opts.head !== expected) {
    return { ok: false, records: n, line: lineNo + 1, reason: 'log ends before the anchored head (records removed from the end)' };
  }
  return { ok: true, records: n, head: expected };
}
