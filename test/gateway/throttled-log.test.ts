import { describe, expect, it } from 'vitest';
import { ThrottledLog } from '../../gateway/log/throttled.js';
import { waitFor } from '../helpers/wait.js';

/** The refusal log's contract (docs/hardening.md): first line at once, then one per window with counts, a closing summary. */
describe('ThrottledLog', () => {
  it('writes the first refusal of a kind at once, folds the rest of the window into one summary line', async () => {
    const lines: Array<{ fields: Record<string, unknown>; message: string }> = [];
    const log = new ThrottledLog({ sink: (_l, fields, message) => lines.push({ fields, message }), windowMs: 1000 });
    for (let i = 0; i < 10_000; i++) log.note('flood', 'warn', { i }, 'command refused');
    log.note('other', 'warn', {}, 'something else');
    expect(lines.map((l) => l.message)).toEqual(['command refused', 'something else']);
    // The window ends: the 9,999 folded refusals are said in one line, with the last one's fields.
    await waitFor(() => lines.length === 3, 'the summary line', 5_000);
    expect(lines[2]!.fields).toMatchObject({ refused: 'flood', count: 9999, total: 10_000, i: 9999 });
    expect(lines[2]!.message).toMatch(/9999 like this since the last line, 10000 in all/);
    expect(log.stats()).toEqual({ lines: 3, byKind: { flood: 10_000, other: 1 } });
    log.close();
  });

  it('close() says what is still unreported', () => {
    const lines: string[] = [];
    const log = new ThrottledLog({ sink: (_l, _f, m) => lines.push(m), windowMs: 60_000 });
    log.note('k', 'info', {}, 'x');
    log.note('k', 'info', {}, 'x');
    log.close();
    expect(lines).toHaveLength(2);
    expect(lines[1]).toMatch(/^x \(1 like this/);
  });
});
