import type { InterfaceDriver } from './context.js';
import { gpio } from './gpio.js';
import { host } from './host.js';
import { i2c } from './i2c.js';
import { messaging } from './messaging.js';
import { serial } from './serial.js';
import { spi } from './spi.js';
import { storage } from './storage.js';
import { telemetry } from './telemetry.js';

export { createContext, type ComponentId, type DeviceLease, type HostContext, type HostSinks, type InterfaceDriver, type PolicyPart, type TelemetrySample } from './context.js';

/**
 * The host side of every interface, in the order of runtime/interfaces/ INTERFACES (a test holds
 * the two lists equal). createHostApi merges their host functions; the policy is built from their
 * policy parts.
 */
export const DRIVERS: readonly InterfaceDriver<never, unknown>[] = [gpio, serial, telemetry, messaging, host, i2c, spi, storage] as unknown as InterfaceDriver<never, unknown>[];
