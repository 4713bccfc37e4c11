import { echo } from '../../runtime/echo.js';
import { messaging as descriptor } from '../../runtime/interfaces/messaging.js';
import { filters, isObj, keys } from '../policy/policy-parts.js';
import { filterCovers, filterProblem, topicProblem } from '../policy/topics.js';
import { driver } from './context.js';

export const MAX_MESSAGE_BYTES = 256 * 1024;

/** Role part: `messaging: { send: ["thermo/#"], receive: ["cmd/#"] }` (MQTT filters). */
export interface MessagingRole {
  send: string[];
  receive: string[];
}

/** messaging.send to granted topics (receive is delivered as on-message events). */
export const messaging = driver<'send', MessagingRole>({
  descriptor,
  policy: {
    key: 'messaging',
    parse(v, path, err) {
      if (v === undefined) return { send: [], receive: [] };
      if (!isObj(v)) throw err(path, 'expected a mapping', 'use keys send and receive');
      keys(v, path, ['send', 'receive'], err);
      return { send: filters(v.send, `${path}.send`, err), receive: filters(v.receive, `${path}.receive`, err) };
    },
    check(manifest, roles, who, by) {
      const out: string[] = [];
      const caps = manifest.capabilities.messaging;
      for (const f of [...caps.send, ...caps.receive]) {
        const bad = filterProblem(f);
        if (bad) out.push(`${who}: messaging ${bad}`);
      }
      for (const f of caps.send) if (!roles.some((r) => r.send.some((rf) => filterCovers(rf, f)))) out.push(`${who}: messaging.send ${echo(f)} is not covered by ${by}`);
      for (const f of caps.receive) if (!roles.some((r) => r.receive.some((rf) => filterCovers(rf, f)))) out.push(`${who}: messaging.receive ${echo(f)} is not covered by ${by}`);
      return out;
    },
  },
  implement(ctx) {
    const { grant, sinks, metrics: m, invalid, deny, limited, failed } = ctx;
    const bucket = ctx.limiter.messaging;
    return {
      send(topic: string, payload: Uint8Array): void {
        const problem = topicProblem(topic);
        if (problem) invalid(problem);
        if (!(payload instanceof Uint8Array)) invalid('message payload must be bytes');
        if (payload.length > MAX_MESSAGE_BYTES) invalid(`message payload of ${payload.length} bytes exceeds ${MAX_MESSAGE_BYTES}`);
        if (!grant.send.allows(topic)) deny('messaging.send', topic, `messaging.send ${topic}`);
        if (bucket !== undefined && !bucket.take()) limited('messaging');
        m.messaging++;
        try {
          // Copy: guest memory may change once the call returns, and the sink may queue the payload.
          sinks.message(topic, payload.slice());
        } catch (err) {
          failed(err, `messaging.send ${topic}`);
        }
      },
    };
  },
});
