import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { afterAll, describe, expect, it } from 'vitest';
import { createAudit, GENESIS, verifyAuditLog } from '../../drivers/pipeline/audit.js';

const dir = mkdtempSync(join(tmpdir(), 'airssys-audit-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let n = 0;
const fresh = () => join(dir, `a${n++}`, 'audit.log');
const who = { component: 'thermo', version: '1.0.0' };

async function writeSome(file: string, count = 4, opts = {}): Promise<string[]> {
  const audit = createAudit({ file, ...opts });
  for (let i = 0; i < count; i++) audit.denied({ ...who, op: 'gpio.write', target: `pin ${i}`, reason: `missing capability gpio.write pin ${i}` });
  await audit.close();
  return readFileSync(file, 'utf8').trimEnd().split('\n');
}

describe('audit log', () => {
  it('writes chained pino JSON lines with the audit fields', async () => {
    const file = fresh();
    const audit = createAudit({ file });
    audit.granted({ ...who, op: 'serial.open', target: '/dev/ttyUSB0', reason: 'baud 9600, framing line' });
    audit.denied({ ...who, op: 'gpio.write', target: 'pin 23', reason: 'missing capability gpio.write pin 23' });
    audit.released({ ...who, op: 'serial.open', target: '/dev/ttyUSB0' });
    expect(audit.written).toBe(3);
    await audit.close();
    const lines = readFileSync(file, 'utf8').trimEnd().split('\n');
    const recs = lines.map((l) => JSON.parse(l));
    expect(recs.map((r) => r.decision)).toEqual(['granted', 'denied', 'released']);
    expect(recs[1]).toMatchObject({ level: 'warn', component: 'thermo', version: '1.0.0', op: 'gpio.write', target: 'pin 23', reason: 'missing capability gpio.write pin 23', msg: 'audit' });
    expect(typeof recs[0].time).toBe('number');
    expect(recs[0].prev).toBe(GENESIS);
    expect(recs[1].prev).toMatch(/^[0-9a-f]{64}$/);
    const v = await verifyAuditLog(file);
    expect(v).toEqual({ ok: true, records: 3, head: audit.head() });
  });

  it('an edited record is the first broken line', async () => {
    const file = fresh();
    const lines = await writeSome(file);
    lines[2] = lines[2]!.replace('"decision":"denied"', '"decision":"granted"');
    writeFileSync(file, `${lines.join('\n')}\n`);
    expect(await verifyAuditLog(file)).toMatchObject({ ok: false, line: 3, records: 2, reason: expect.stringMatching(/edited/) });
  });

  it('a removed, inserted or reordered record breaks the next prev', async () => {
    const file = fresh();
    const lines = await writeSome(file, 5);
    writeFileSync(file, `${[lines[0], lines[1], lines[3], lines[4]].join('\n')}\n`);
    expect(await verifyAuditLog(file)).toMatchObject({ ok: false, line: 3, reason: expect.stringMatching(/removed, inserted or reordered/) });
    writeFileSync(file, `${[lines[0], lines[2], lines[1]].join('\n')}\n`);
    expect(await verifyAuditLog(file)).toMatchObject({ ok: false, line: 2 });
    writeFileSync(file, `${lines.slice(1).join('\n')}\n`);
    expect(await verifyAuditLog(file)).toMatchObject({ ok: false, line: 1, reason: expect.stringMatching(/removed from the start/) });
  });

  it('truncation is caught with an anchored head', async () => {
    const file = fresh();
    const audit = createAudit({ file });
    for (let i = 0; i < 3; i++) audit.granted({ ...who, op: 'gpio.output', target: `pin ${i}` });
    const head = audit.head();
    await audit.close();
    const lines = readFileSync(file, 'utf8').trimEnd().split('\n');
    writeFileSync(file, `${lines.slice(0, 2).join('\n')}\n`);
    expect((await verifyAuditLog(file)).ok).toBe(true); // without an anchor, a cut tail looks fine
    expect(await verifyAuditLog(file, { head })).toMatchObject({ ok: false, line: 3, reason: expect.stringMatching(/removed from the end/) });
  });

  it('garbage lines are reported', async () => {
    const file = fresh();
    const lines = await writeSome(file, 2);
    writeFileSync(file, `${lines[0]}\nnot json at all\n${lines[1]}\n`);
    expect(await verifyAuditLog(file)).toMatchObject({ ok: false, line: 2, reason: expect.stringMatching(/no hash/) });
  });

  it('reopening the file continues the chain', async () => {
    const file = fresh();
    await writeSome(file, 2);
    await writeSome(file, 2);
    expect(await verifyAuditLog(file)).toMatchObject({ ok: true, records: 4 });
  });

  it('with an HMAC key, a recomputed plain-sha256 forgery does not verify', async () => {
    const file = fresh();
    await writeSome(file, 2, { hmacKey: 'secret' });
    expect((await verifyAuditLog(file, { hmacKey: 'secret' })).ok).toBe(true);
    expect(await verifyAuditLog(file)).toMatchObject({ ok: false, line: 1 });
    expect(await verifyAuditLog(file, { hmacKey: 'wrong' })).toMatchObject({ ok: false, line: 1, reason: expect.stringMatching(/wrong key/) });
  });

  it('a flood of denials is summarised, not written one by one', async () => {
    const file = fresh();
    let t = 0;
    const audit = createAudit({ file, maxDenialsPerSec: 3, now: () => t });
    for (let i = 0; i < 100; i++) audit.denied({ ...who, op: 'gpio.read', target: 'pin 5' });
    t = 1500;
    audit.denied({ ...who, op: 'gpio.read', target: 'pin 5' });
    await audit.close();
    const recs = readFileSync(file, 'utf8').trimEnd().split('\n').map((l) => JSON.parse(l));
    expect(recs.map((r) => r.decision)).toEqual(['denied', 'denied', 'denied', 'suppressed', 'denied']);
    expect(recs[3].reason).toMatch(/^97 further denials/);
    expect((await verifyAuditLog(file)).ok).toBe(true);
  });

  it('writes to any destination stream', async () => {
    const chunks: string[] = [];
    const dest = new Writable({
      write(c, _e, cb) {
        chunks.push(c.toString());
        cb();
      },
    });
    const audit = createAudit({ destination: dest });
    audit.granted({ ...who, op: 'gpio.watch', target: 'pin 4' });
    await new Promise((r) => setImmediate(r));
    expect(chunks.join('')).toMatch(/"decision":"granted".*"prev":"0{64}","hash":"[0-9a-f]{64}"\}\n$/);
    expect(() => createAudit({})).toThrow();
  });
});
