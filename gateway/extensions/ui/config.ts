import { type Problems, mapping, show } from '../../config/check.js';
import { isLoopback, type ListenAddress, parseListen } from '../config.js';

/** `ui: { listen, token }` (contract 7.4): the local status page; absent means off. */
export interface UiConfig {
  listen: ListenAddress;
  /** Required to bind beyond loopback; when set, every request must carry it (docs/status-page.md). */
  token: string | undefined;
}

export const UI_DEFAULT_LISTEN: ListenAddress = { host: '127.0.0.1', port: 8080 };
/** Short tokens are guessable over a LAN; 16 characters is what `openssl rand -hex 8` gives. */
export const UI_TOKEN_MIN = 16;
const TOKEN_RE = /^[\x21-\x7e]+$/;

export function parseUiConfig(p: Problems, v: unknown): UiConfig | undefined {
  if (v === undefined || v === null || v === false) return undefined;
  // `ui: true` (or {}): the page on 127.0.0.1:8080.
  if (v === true) v = {};
  const u = mapping(p, v, 'ui', ['listen', 'token'], 'write e.g. { listen: 127.0.0.1:8080 }');
  if (!u) return undefined;
  const listen = parseListen(p, u.listen, 'ui.listen', UI_DEFAULT_LISTEN);
  let token: string | undefined;
  if (u.token !== undefined && u.token !== null) {
    if (typeof u.token !== 'string' || u.token.length < UI_TOKEN_MIN || !TOKEN_RE.test(u.token)) {
      p.add('ui.token', `expected at least ${UI_TOKEN_MIN} printable characters without spaces, got ${typeof u.token === 'string' ? `${u.token.length} character(s)` : show(u.token)}`, 'generate one with `openssl rand -hex 16`');
    } else token = u.token;
  }
  if (!isLoopback(listen.host) && token === undefined && u.token === undefined) {
    p.add('ui.listen', `${show(`${listen.host}:${listen.port}`)} is beyond loopback and ui.token is not set`, 'set ui.token (e.g. from `openssl rand -hex 16`) or listen on 127.0.0.1');
  }
  return { listen, token };
}
