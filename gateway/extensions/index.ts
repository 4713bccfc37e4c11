import type { GatewayConfig } from '../config/types.js';
import type { Extension, ExtensionContext } from './extension.js';

export { ExtensionHost, type ExtensionHostDeps } from './host.js';
export { GatewayEvents } from './events.js';
export type { Extension, ExtensionContext } from './extension.js';

/** The built-in extensions the config turns on, in start order. */
export function extensionsFor(config: GatewayConfig): Extension[] {
  const out: Extension[] = [];
  const { metrics, homeassistant, ui } = config;
  if (metrics) out.push(lazy('metrics', async () => new (await import('./metrics/extension.js')).MetricsExtension(metrics)));
  if (homeassistant) out.push(lazy('homeassistant', async () => new (await import('./homeassistant/extension.js')).HomeAssistantExtension(homeassistant)));
  if (ui) out.push(lazy('ui', async () => new (await import('./ui/extension.js')).UiExtension(ui)));
  return out;
}

/**
 * An extension whose module (and its libraries: prom-client for metrics) is imported only when a
 * config turns it on, so a gateway without it neither starts slower nor carries it in memory.
 */
function lazy(name: string, load: () => Promise<Extension>): Extension {
  let real: Extension | undefined;
  return {
    name,
    async start(ctx: ExtensionContext) {
      real = await load();
      await real.start(ctx);
    },
    async stop() {
      await real?.stop();
    },
  };
}
