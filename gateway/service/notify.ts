import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { GatewayError } from '../../runtime/errors.js';

/**
 * The systemd notify protocol (sd_notify(3)): newline-separated `KEY=value` assignments in one
 * datagram to the AF_UNIX socket named by `NOTIFY_SOCKET`. A filesystem path (`/run/systemd/notify`,
 * what the system manager hands a `Type=notify` service) or an abstract name (`@…`).
 *
 * Node has no AF_UNIX datagram sockets; the native `unix-dgram` package does, and is loaded only
 * when `NOTIFY_SOCKET` is set, so a gateway outside systemd never touches the addon.
 *
 * `unix-dgram` copies the address with strncpy into a full-size sockaddr_un, which cannot express an
 * abstract name (it starts with a NUL, and its length must not include the padding). For `@…` the
 * socket is created here and a short-lived `python3` connects that very descriptor (shared with it
 * through stdio) to the abstract address; sends then go out from this process on the connected
 * socket, so systemd sees this PID as the sender (`NotifyAccess=main` holds).
 */

export interface Notifier {
  /** Sends `KEY=value` lines; never throws (a lost notification is logged once, not fatal). */
  send(fields: Record<string, string | number>): void;
  close(): void;
  /** The socket as given in NOTIFY_SOCKET, for messages. */
  readonly address: string;
}

interface UnixDgramSocket {
  fd: number;
  connected?: boolean;
  on(event: 'error', cb: (err: Error) => void): void;
  send(buf: Buffer, offset: number, length: number, path: string, cb: (err?: Error) => void): void;
  send(buf: Buffer, cb: (err?: Error) => void): void;
  close(): void;
}

export interface NotifierOptions {
  /** Told once per distinct failure (the gateway's logger). */
  onError?: (message: string) => void;
}

/** A notifier for `env.NOTIFY_SOCKET`, or undefined when the gateway does not run under systemd notify. */
export function notifierFromEnv(env: NodeJS.ProcessEnv = process.env, opts: NotifierOptions = {}): Notifier | undefined {
  const address = env.NOTIFY_SOCKET;
  if (!address) return undefined;
  if (!address.startsWith('/') && !address.startsWith('@')) {
    throw new GatewayError('NOTIFY_SOCKET', `NOTIFY_SOCKET=${address.slice(0, 200)} is neither a path (/…) nor an abstract socket (@…); unset it or let systemd set it`);
  }
  let unix: { createSocket(type: 'unix_dgram'): UnixDgramSocket };
  try {
    unix = createRequire(import.meta.url)('unix-dgram');
  } catch (err) {
    throw new GatewayError('NOTIFY_SOCKET', `NOTIFY_SOCKET is set but the unix-dgram addon does not load (${oneLine(err)}); reinstall the gateway (npm ci builds it) or use Type=simple without WatchdogSec`);
  }
  const socket = unix.createSocket('unix_dgram');
  let lastError: string | undefined;
  const report = (err: unknown) => {
    const line = `systemd notification to ${address} failed (${oneLine(err)})`;
    if (line !== lastError) opts.onError?.(line);
    lastError = line;
  };
  socket.on('error', report);
  if (address.startsWith('@')) connectAbstract(socket, address.slice(1));
  let closed = false;
  return {
    address,
    send(fields) {
      if (closed) return;
      const text = Object.entries(fields)
        .map(([k, v]) => `${k}=${String(v).replace(/\n/g, ' ')}`)
        .join('\n');
      const buf = Buffer.from(text);
      const done = (err?: Error) => {
        if (err) report(err);
        else lastError = undefined;
      };
      try {
        if (socket.connected) socket.send(buf, done);
        else socket.send(buf, 0, buf.length, address, done);
      } catch (err) {
        report(err);
      }
    },
    close() {
      if (closed) return;
      closed = true;
      try {
        socket.close();
      } catch {
        // already closed
      }
    },
  };
}

const CONNECT_ABSTRACT = `
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM, 0, 3)
s.connect("\\0" + sys.argv[1])
s.detach()
`;

/** Connects `socket`'s descriptor to the abstract address `name` (see the module comment). */
function connectAbstract(socket: UnixDgramSocket, name: string): void {
  const r = spawnSync('python3', ['-c', CONNECT_ABSTRACT, name], { stdio: ['ignore', 'ignore', 'pipe', socket.fd], encoding: 'utf8', timeout: 10_000 });
  if (r.status !== 0) {
    socket.close();
    const why = r.error ? oneLine(r.error) : (r.stderr.trim().split('\n').at(-1) ?? `exit ${r.status}`);
    throw new GatewayError('NOTIFY_SOCKET', `cannot connect to the abstract NOTIFY_SOCKET @${name.slice(0, 100)} (${why.slice(0, 200)}); abstract sockets need python3 on PATH, or give systemd a socket path`);
  }
  // The descriptor is connected now; unix-dgram's send() takes its connected path when this is set
  // (the flag its own connect() sets).
  socket.connected = true;
}

function oneLine(err: unknown): string {
  return (err instanceof Error ? err.message : String(err)).split('\n')[0]!.slice(0, 200);
}
