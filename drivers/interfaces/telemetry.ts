import { echo } from '../../runtime/echo.js';
import { telemetry as descriptor } from '../../runtime/interfaces/telemetry.js';
import { nameMatches, strings } from '../policy/policy-parts.js';
import { driver } from './context.js';

export const MAX_JSON_BYTES = 64 * 1024;
const CHANNEL_RE = /^[A-Za-z0-9_.-]{1,64}$/;

/** telemetry.publish / publish-json on granted channels. Role part: `telemetry: [temperature, "*"]`. */
export const telemetry = driver<'publish' | 'publishJson', string[]>({
  descriptor,
  policy: {
    key: 'telemetry',
    parse: (v, path, err) => strings(v, path, err),
    check(manifest, roles, who, by) {
      const out: string[] = [];
      for (const ch of manifest.capabilities.telemetry) {
        // A manifest asking for "*" needs a role with "*": a prefix role does not cover every channel.
        const ok = roles.some((r) => r.some((p) => (ch === '*' ? p === '*' : nameMatches(p, ch))));
        if (!ok) out.push(`${who}: telemetry channel ${echo(ch)} is not granted by ${by}`);
      }
      return out;
    },
  },
  implement(ctx) {
    const { grant, sinks, metrics: m, invalid, deny, limited, failed } = ctx;
    const bucket = ctx.limiter.telemetry;
    const checkChannel = (channel: string): void => {
      if (typeof channel !== 'string' || !CHANNEL_RE.test(channel)) invalid(`channel ${JSON.stringify(channel)} is not a valid name (letters, digits, _ . -, at most 64)`);
      if (!grant.telemetryAll && !grant.telemetry.has(channel)) deny('telemetry.publish', channel, `telemetry channel ${channel}`);
    };
    return {
      publish(channel: string, value: number): void {
        checkChannel(channel);
        if (typeof value !== 'number' || !Number.isFinite(value)) invalid(`telemetry value must be a finite number, got ${String(value)}`);
        if (bucket !== undefined && !bucket.take()) limited('telemetry');
        m.telemetry++;
        try {
          sinks.telemetry(channel, { value });
        } catch (err) {
          failed(err, `telemetry.publish ${channel}`);
        }
      },
      publishJson(channel: string, json: string): void {
        checkChannel(channel);
        if (typeof json !== 'string') invalid('publish-json needs a JSON string');
        // Cheap bound first (UTF-16 length), then the UTF-8 bytes.
        if (json.length > MAX_JSON_BYTES || Buffer.byteLength(json, 'utf8') > MAX_JSON_BYTES) invalid(`JSON is larger than ${MAX_JSON_BYTES} bytes`);
        let parsed: unknown;
        try {
          parsed = JSON.parse(json);
        } catch (err) {
          invalid(`JSON does not parse: ${(err as Error).message}`);
        }
        if (bucket !== undefined && !bucket.take()) limited('telemetry');
        m.telemetry++;
        try {
          sinks.telemetry(channel, { json: parsed });
        } catch (err) {
          failed(err, `telemetry.publish-json ${channel}`);
        }
      },
    };
  },
});
