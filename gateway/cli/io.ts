/** Where a CLI verb writes; tests pass buffers, the real CLI passes the process streams. */
export interface CliIo {
  out(line: string): void;
  err(line: string): void;
  /** For progress bars: the raw stderr stream when it is a terminal, else undefined. */
  tty?: NodeJS.WriteStream | undefined;
}

export type Verb = (argv: string[], io: CliIo) => Promise<number>;

// `airssys telemetry | head` closes the pipe early: that ends the command quietly, not with a crash.
for (const stream of [process.stdout, process.stderr]) {
  stream.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code === 'EPIPE') process.exit(0);
    throw err;
  });
}

export const processIo: CliIo = {
  out: (line) => process.stdout.write(line + '\n'),
  err: (line) => process.stderr.write(line + '\n'),
  tty: process.stderr.isTTY ? process.stderr : undefined,
};
