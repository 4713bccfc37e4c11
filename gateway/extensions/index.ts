import type { GatewayConfig } from '../config/types.js';
import type { Extension } from './extension.js';
import { HomeAssistantExtension } from './homeassistant/extension.js';
import { MetricsExtension } from './metrics/extension.js';
import { UiExtension } from './ui/extension.js';

export { ExtensionHost, type ExtensionHostDeps } from './host.js';
export { GatewayEvents } from './events.js';
export type { Extension, ExtensionContext } from './extension.js';

/** The built-in extensions the config turns on, in start order. */
export function extensionsFor(config: GatewayConfig): Extension[] {
  const out: Extension[] = [];
  if (config.metrics) out.push(new MetricsExtension(config.metrics));
  if (config.homeassistant) out.push(new HomeAssistantExtension(config.homeassistant));
  if (config.ui) out.push(new UiExtension(config.ui));
  return out;
}
