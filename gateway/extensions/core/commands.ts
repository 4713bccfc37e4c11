import type { Audit } from '../../../drivers/pipeline/audit.js';
import { InboundCommands, type CommandStats } from '../../commands/inbound.js';
import { topics } from '../../mqtt/topics.js';
import type { CommandsConfig } from '../../commands/config.js';
import type { ComponentService } from '../../component/component-service.js';
import type { ThrottledLog } from '../../log/throttled.js';
import type { Extension, ExtensionContext } from '../extension.js';

export interface CommandsExtensionOptions {
  prefix: string;
  gatewayId: string;
  config: CommandsConfig;
  services: ReadonlyMap<string, ComponentService>;
  audit: Audit;
  /** Refusals of inbound traffic: counted, logged a few lines per window. */
  refusals: ThrottledLog;
}

/**
 * Inbound traffic from the broker to components: commands (`<prefix>/gw/<id>/cmd/<name>/…`,
 * contract section 4, checked by gateway/commands/inbound.ts before any mailbox) and operator
 * retries of a failed component (`<prefix>/gw/<id>/admin/<name>/retry`).
 */
export class CommandsExtension implements Extension {
  readonly name = 'commands';
  private commands: InboundCommands | undefined;

  constructor(private readonly opts: CommandsExtensionOptions) {}

  /** Delivered and refused counts for health (undefined before start). */
  stats(): CommandStats | undefined {
    return this.commands?.stats();
  }

  async start(ctx: ExtensionContext): Promise<void> {
    const { prefix, gatewayId: id, services, audit, refusals } = this.opts;
    const commands = (this.commands = new InboundCommands({
      prefix,
      gatewayId: id,
      config: this.opts.config,
      target: (name) => {
        const svc = services.get(name);
        return svc && { version: svc.host.version, memoryMb: svc.manifest.limits.memoryMb, receives: (t) => svc.receives(t), deliver: (t, p) => svc.deliverMessage('broker', t, p) };
      },
      denied: (component, version, target) => audit.denied({ component, version, op: 'messaging.receive', target, reason: 'command topic not in messaging.receive' }),
      log: refusals,
    }));
    await ctx.mqtt.subscribe(`${topics.commands(prefix, id)}#`, (topic, payload) => void commands.handle(topic, payload), { qos: 1 });
    const [retryHead, retryTail] = topics.adminRetry(prefix, id, '\0').split('\0') as [string, string];
    const adminRetry = new RegExp(`^${escapeRe(retryHead)}([^/]+)${escapeRe(retryTail)}$`);
    await ctx.mqtt.subscribe(topics.adminRetry(prefix, id, '+'), (topic) => {
      const admin = adminRetry.exec(topic);
      const svc = admin && services.get(admin[1]!);
      // Anyone on the broker can send these: a flood of retries is a few throttled lines, not one each.
      if (svc) void svc.retry().then(() => refusals.note(`admin-retry:${svc.name}`, 'info', { component: svc.name }, 'operator retry'));
    }, { qos: 1 });
  }

  async stop(): Promise<void> {
    // The subscriptions end with the extension's context.
  }
}

const escapeRe = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
