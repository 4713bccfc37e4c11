/**
 * Ctrl-C (SIGINT) or SIGTERM while a verb has something to undo: the first one aborts `signal` so the
 * verb can clean up (push clears its retained envelope) and exit; a second one exits at once.
 */
export interface Interrupt {
  readonly signal: AbortSignal;
  /** The signal that arrived, once one has. */
  readonly received: NodeJS.Signals | undefined;
  dispose(): void;
}

export const INTERRUPTED_EXIT = 130;

export function trapInterrupt(): Interrupt {
  const ctl = new AbortController();
  let received: NodeJS.Signals | undefined;
  const handler = (sig: NodeJS.Signals) => {
    if (received) process.exit(INTERRUPTED_EXIT);
    received = sig;
    ctl.abort();
  };
  process.on('SIGINT', handler);
  process.on('SIGTERM', handler);
  return {
    signal: ctl.signal,
    get received() {
      return received;
    },
    dispose() {
      process.off('SIGINT', handler);
      process.off('SIGTERM', handler);
    },
  };
}
