import type { LogLevel } from '../../runtime/host-api.js';
import { LOG_LEVELS } from '../../runtime/host-api-types.js';
import { host as descriptor } from '../../runtime/interfaces/host.js';
import { driver } from './context.js';

export const MAX_LOG_CHARS = 8 * 1024;
const LEVELS: ReadonlySet<string> = new Set(LOG_LEVELS);

/** host.log / now-ms / config: no grant (config values are the manifest's own), no error channel. */
export const host = driver<'log' | 'nowMs' | 'config'>({
  descriptor,
  implement(ctx) {
    const { sinks, metrics: m, config, now } = ctx;
    const bucket = ctx.limiter.log;
    return {
      log(level: LogLevel, message: string): void {
        // `log` has no result in WIT: a throw would trap the guest, so every refusal is a silent drop.
        if (bucket !== undefined && !bucket.take()) {
          m.limited++;
          return;
        }
        m.log++;
        const lvl: LogLevel = LEVELS.has(level) ? level : 'info';
        let msg = typeof message === 'string' ? message : String(message);
        if (msg.length > MAX_LOG_CHARS) msg = `${msg.slice(0, MAX_LOG_CHARS)}… (${msg.length - MAX_LOG_CHARS} more characters dropped)`;
        try {
          sinks.log(lvl, msg);
        } catch {
          m.errors++;
        }
      },
      nowMs(): bigint {
        return BigInt(Math.floor(now()));
      },
      config(key: string): string | undefined {
        return typeof key === 'string' ? config.get(key) : undefined;
      },
    };
  },
});
