import { HostCallError } from '../../runtime/errors.js';
import type { HostApi, LogLevel } from '../../runtime/host-api.js';

/**
 * A HostApi that records every call: the runtime's boundary seen from the host side. Runtime tests
 * use it to check what the guest asked for; the driver layer's real HostApi is tested in test/drivers
 * and end to end in test/cli and test/gateway.
 */
export class RecordingHost implements HostApi {
  readonly published: { channel: string; value?: number; json?: string }[] = [];
  readonly logs: { level: LogLevel; message: string }[] = [];
  readonly sent: { topic: string; payload: Uint8Array }[] = [];
  readonly serialWrites: { port: string; data: Uint8Array }[] = [];
  readonly gpioWrites: { pin: number; value: boolean }[] = [];
  pins = new Map<number, boolean>();
  deniedPins = new Set<number>();
  now = 1_000n;
  configValues: Record<string, string> = {};

  gpioRead(pin: number): boolean {
    if (this.deniedPins.has(pin)) throw new HostCallError('denied', `gpio.read of pin ${pin} is not granted`);
    return this.pins.get(pin) ?? false;
  }
  gpioWrite(pin: number, value: boolean): void {
    if (this.deniedPins.has(pin)) throw new HostCallError('denied', `gpio.write of pin ${pin} is not granted`);
    this.gpioWrites.push({ pin, value });
  }
  serialWrite(port: string, data: Uint8Array): number {
    this.serialWrites.push({ port, data: data.slice() });
    return data.length;
  }
  publish(channel: string, value: number): void {
    this.published.push({ channel, value });
  }
  publishJson(channel: string, json: string): void {
    this.published.push({ channel, json });
  }
  send(topic: string, payload: Uint8Array): void {
    this.sent.push({ topic, payload: payload.slice() });
  }
  log(level: LogLevel, message: string): void {
    this.logs.push({ level, message });
  }
  nowMs(): bigint {
    return this.now;
  }
  config(key: string): string | undefined {
    return this.configValues[key];
  }
  /** Records bus transfers; answers zeros (the simulated devices are tested in test/drivers/sim-devices.test.ts). */
  readonly transfers: { bus: 'i2c' | 'spi'; data: Uint8Array }[] = [];
  i2cTransfer(_bus: number, _address: number, data: Uint8Array, readLen: number): Uint8Array {
    this.transfers.push({ bus: 'i2c', data: data.slice() });
    return new Uint8Array(readLen);
  }
  spiTransfer(_bus: number, _chipSelect: number, data: Uint8Array): Uint8Array {
    this.transfers.push({ bus: 'spi', data: data.slice() });
    return new Uint8Array(data.length);
  }
  /** A plain map: the real bucket (quotas, durability) is tested in test/drivers/storage*.test.ts. */
  readonly stored = new Map<string, Uint8Array>();
  storageGet(key: string): Uint8Array | undefined {
    return this.stored.get(key)?.slice();
  }
  storageSet(key: string, value: Uint8Array): void {
    this.stored.set(key, value.slice());
  }
  storageDelete(key: string): boolean {
    return this.stored.delete(key);
  }
  storageListKeys(prefix: string): string[] {
    return [...this.stored.keys()].filter((k) => k.startsWith(prefix)).sort();
  }
}
