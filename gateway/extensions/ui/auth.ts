import { createHmac, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';

/**
 * Who may read the status page.
 *
 * With `ui.token`: a request carries the token as `Authorization: Bearer <token>` (scripts, curl),
 * or once as `?token=<token>` (a browser), which is answered with a session cookie and a redirect to
 * the same URL without the token, so it does not stay in the address bar or the history. The cookie
 * holds an HMAC of the token, not the token; it is HttpOnly and SameSite=Strict. Changing the token
 * in the config invalidates every cookie.
 *
 * Without a token the page is bound to loopback (the config refuses otherwise), and the Host header
 * must name loopback too: a web page elsewhere that rebinds its DNS name to 127.0.0.1 cannot read it.
 */
export const COOKIE = 'airssys_ui';

export type Verdict = { ok: true } | { ok: false; status: 401 | 403; message: string } | { ok: 'redirect'; location: string; cookie: string };

export class UiAuth {
  private readonly session: Buffer | undefined;
  private readonly token: Buffer | undefined;

  constructor(token: string | undefined) {
    this.token = token === undefined ? undefined : Buffer.from(token);
    this.session = token === undefined ? undefined : createHmac('sha256', token).update('airssys-ui-session-v1').digest();
  }

  check(req: IncomingMessage, url: URL): Verdict {
    if (!this.token) {
      return loopbackHost(req.headers.host) ? { ok: true } : { ok: false, status: 403, message: 'this status page answers only to localhost; open it as http://127.0.0.1:<port>/ (or set ui.token to serve other names)' };
    }
    const bearer = /^Bearer\s+(\S+)$/i.exec(req.headers.authorization ?? '')?.[1];
    if (bearer !== undefined && same(Buffer.from(bearer), this.token)) return { ok: true };
    const query = url.searchParams.get('token');
    if (query !== null && same(Buffer.from(query), this.token)) {
      url.searchParams.delete('token');
      const location = url.pathname + (url.search === '?' ? '' : url.search);
      return { ok: 'redirect', location, cookie: `${COOKIE}=${this.session!.toString('base64url')}; Path=/; HttpOnly; SameSite=Strict; Max-Age=2592000` };
    }
    const cookie = readCookie(req.headers.cookie, COOKIE);
    if (cookie !== undefined && same(Buffer.from(cookie, 'base64url'), this.session!)) return { ok: true };
    return { ok: false, status: 401, message: 'this status page needs its token (ui.token in the gateway config): open /?token=<token> once, or send Authorization: Bearer <token>' };
  }
}

function same(a: Buffer, b: Buffer): boolean {
  return a.length === b.length && timingSafeEqual(a, b);
}

function readCookie(header: string | undefined, name: string): string | undefined {
  if (!header) return undefined;
  for (const part of header.split(';')) {
    const i = part.indexOf('=');
    if (i > 0 && part.slice(0, i).trim() === name) return part.slice(i + 1).trim();
  }
  return undefined;
}

export function loopbackHost(host: string | undefined): boolean {
  if (!host) return false;
  const name = host.startsWith('[') ? host.slice(1, host.indexOf(']')) : host.replace(/:\d+$/, '');
  return name === 'localhost' || name === '::1' || /^127\.\d+\.\d+\.\d+$/.test(name);
}
