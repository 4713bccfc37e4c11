/**
 * The seeded fuzzers at full size (issue "Hardening"): 5,000 OTA envelopes, 1,000 configs (as objects
 * and as damaged files) and 1,000 manifests, 1,000 framed serial streams over every framing. Same
 * seeds as test/fuzz/fuzz.test.ts, which runs the first few hundred of each.
 * Run: `npm run bench -- fuzz` (FUZZ_SCALE=2 doubles every count). Results: docs/hardening.md.
 * Exit 1 on any finding but an over-long refusal line (those are listed, see the docs).
 */
import { pathToFileURL } from 'node:url';
import { fuzzConfigs, fuzzEnvelopes, fuzzFramer, MAX_LINE, SLOW_MS, type FuzzReport } from '../test/fuzz/harness.js';

export async function run(): Promise<void> {
  const scale = Number(process.env.FUZZ_SCALE ?? 1) || 1;
  const t0 = performance.now();
  const reports: FuzzReport[] = [fuzzEnvelopes(1, 5000 * scale), ...fuzzConfigs(2, 1000 * scale), fuzzFramer(3, 1000 * scale)];
  const seconds = ((performance.now() - t0) / 1000).toFixed(1);
  console.log(`fuzz: fixed seeds; a finding is an escaped exception, a stack trace, a multi-line refusal, a case over ${SLOW_MS} ms, a broken framer invariant, or a refusal over ${MAX_LINE} chars (too-long)`);
  console.table(
    reports.map((r) => {
      const kinds: Record<string, number> = {};
      for (const f of r.findings) kinds[f.kind] = (kinds[f.kind] ?? 0) + 1;
      return {
        target: r.target,
        seed: r.seed,
        cases: r.cases,
        accepted: r.accepted,
        refused: r.refused,
        'uncaught / stack / multi-line / slow / invariant': ['uncaught', 'stack-trace', 'multi-line', 'slow', 'invariant'].map((k) => kinds[k] ?? 0).join(' / '),
        'too-long': kinds['too-long'] ?? 0,
        'longest line': r.longestLine,
        'slowest (ms)': r.slowestMs.toFixed(1),
      };
    }),
  );
  // One example per distinct finding (first 100 characters of the message), for the docs.
  const seen = new Map<string, { n: number; example: string; index: number }>();
  for (const r of reports) {
    for (const f of r.findings) {
      const key = `${r.target} | ${f.kind} | ${f.message.replace(/got .*|unknown .*|"[^"]*"|\d+/g, '…').slice(0, 100)}`;
      const e = seen.get(key) ?? { n: 0, example: f.message.slice(0, 160), index: f.index };
      e.n++;
      seen.set(key, e);
    }
  }
  for (const [k, v] of seen) console.log(`${v.n}× ${k}\n    e.g. case ${v.index}: ${v.example}`);
  console.log(`total ${reports.reduce((a, r) => a + r.cases, 0)} cases in ${seconds} s`);
  if (reports.some((r) => r.findings.some((f) => f.kind !== 'too-long'))) process.exitCode = 1;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) await run();
