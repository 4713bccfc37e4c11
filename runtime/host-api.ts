/**
 * What a running component may ask of the host, one method per WIT host function.
 * The linker binds these to the component's imports; the driver layer implements them behind its
 * middleware pipeline (policy, rate limits, audit). Host imports are synchronous (no JSPI on Node 20),
 * so every method returns at once. A refusal is a thrown HostCallError (runtime/errors.ts), which the
 * guest sees as `err(host-error)`; any other throw traps the guest.
 */
export type LogLevel = 'trace' | 'debug' | 'info' | 'warn' | 'error';

export interface HostApi {
  gpioRead(pin: number): boolean;
  gpioWrite(pin: number, value: boolean): void;
  /** Returns the number of bytes accepted for writing. */
  serialWrite(port: string, data: Uint8Array): number;
  publish(channel: string, value: number): void;
  publishJson(channel: string, json: string): void;
  send(topic: string, payload: Uint8Array): void;
  log(level: LogLevel, message: string): void;
  nowMs(): bigint;
  config(key: string): string | undefined;
}
