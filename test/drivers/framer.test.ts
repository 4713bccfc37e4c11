import { describe, expect, it } from 'vitest';
import { parseFraming } from '../../runtime/manifest.js';
import { Framer } from '../../drivers/serial/framer.js';

const text = (frames: Uint8Array[]) => frames.map((f) => Buffer.from(f).toString('latin1'));
function framer(spec: string, opts = {}) {
  const frames: Uint8Array[] = [];
  const f = new Framer(parseFraming(spec, 'test'), (fr) => frames.push(fr), opts);
  return { f, frames, push: (s: string) => f.push(Buffer.from(s, 'latin1')) };
}

describe('Framer', () => {
  it('line: splits on \\n, strips \\r, joins across chunks, skips empty lines', () => {
    const { push, frames } = framer('line');
    push('T=21.5\r\nH=4');
    push('0\n\r\n\nlast-partial');
    expect(text(frames)).toEqual(['T=21.5', 'H=40']);
  });

  it('frames are copies: later input does not change them', () => {
    const { push, frames } = framer('line');
    push('abc\n');
    push('xyz\n');
    expect(text(frames)).toEqual(['abc', 'xyz']);
  });

  it('bytes: each chunk as it arrives, cut at maxFrameBytes', () => {
    const { f, frames } = framer('bytes', { maxFrameBytes: 4 });
    f.push(Uint8Array.of(1, 2, 3));
    f.push(Uint8Array.of(4, 5, 6, 7, 8, 9, 10, 11, 12));
    f.push(new Uint8Array(0));
    expect(frames.map((x) => [...x])).toEqual([[1, 2, 3], [4, 5, 6, 7], [8, 9, 10, 11], [12]]);
  });

  it('delimiter: multi-byte, split across chunks, with self-overlapping delimiters', () => {
    const { push, frames } = framer('delimiter:0d0a');
    push('a\r');
    push('\nb\r\r\nc');
    push('\r');
    push('\n');
    expect(text(frames)).toEqual(['a', 'b\r', 'c']);
    const abab = framer('delimiter:61626162'); // "abab"
    abab.push('xxabaabab');
    abab.push('yyababab');
    expect(text(abab.frames)).toEqual(['xxaba', 'yy']);
    expect(abab.f.buffered).toBe(2); // "ab" could start another delimiter
  });

  it('an endless stream without delimiter keeps memory fixed and discards up to the next delimiter', () => {
    const { f, push, frames } = framer('line', { maxFrameBytes: 16 });
    const junk = 'x'.repeat(1000);
    for (let i = 0; i < 1000; i++) push(junk); // 1 MB, no newline
    expect(f.buffered).toBeLessThanOrEqual(17);
    expect(frames).toEqual([]);
    expect(f.stats.overflows).toBe(1);
    expect(f.stats.discardedBytes).toBe(1_000_000);
    push('tail-of-junk\nok\n');
    // The tail before the newline belongs to the oversize frame and is dropped too.
    expect(text(frames)).toEqual(['ok']);
    expect(f.stats.discardedBytes).toBe(1_000_000 + 'tail-of-junk\n'.length);
  });

  it('overflow: emit delivers truncated frames of maxFrameBytes', () => {
    const { f, push, frames } = framer('delimiter:00', { maxFrameBytes: 4, overflow: 'emit' });
    push('abcdefghij\u0000k\u0000');
    expect(text(frames)).toEqual(['abcd', 'efgh', 'ij', 'k']);
    expect(f.stats.overflows).toBe(2);
    expect(f.stats.frames).toBe(4);
  });

  it('exactly maxFrameBytes fits; one more overflows', () => {
    const a = framer('line', { maxFrameBytes: 4 });
    a.push('abcd\r\n');
    expect(text(a.frames)).toEqual(['abcd']);
    const b = framer('line', { maxFrameBytes: 4 });
    b.push('abcde\nok\n');
    expect(text(b.frames)).toEqual(['ok']);
    const c = framer('line', { maxFrameBytes: 4 });
    c.push('abcdefgh\nok\n');
    expect(text(c.frames)).toEqual(['ok']);
    expect(c.f.stats.overflows).toBe(1);
  });

  it('reset drops a partial frame', () => {
    const { f, push, frames } = framer('line');
    push('half');
    f.reset();
    push('whole\n');
    expect(text(frames)).toEqual(['whole']);
  });

  it('rejects a bad maxFrameBytes', () => {
    expect(() => framer('line', { maxFrameBytes: 0 })).toThrow(RangeError);
    expect(() => framer('line', { maxFrameBytes: 1.5 })).toThrow(RangeError);
  });
});
