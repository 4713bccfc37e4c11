/** Polls `cond` until it holds; fails with `what` after `ms`. Tests wait for effects, never sleep a fixed time. */
export async function waitFor(cond: () => boolean, what = 'condition', ms = 15_000, everyMs = 20): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}
