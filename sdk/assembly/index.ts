// AirsSys component SDK for AssemblyScript.
//
//   import { gpio, telemetry, log, host, Status, ok, fail } from "@airssys/sdk";
//   export function onTick(nowMs: u64): Status { ... return ok(); }
//
// A component module exports any of: init, onTick, onGpio, onSerial, onMessage (see docs/sdk.md for
// their signatures). `airssys build` wraps them into the world's exports; a missing one returns ok.
// AssemblyScript has no exceptions, so every host call returns a Status or Result you can inspect.

import {
  IMPORT_RET, _config, _gpioRead, _gpioWrite, _log, _nowMs, _publish, _publishJson, _send,
  _serialWrite, encode1, encode2, scratchPtr, takeHostString,
} from "./abi";

export { JsonWriter } from "./json";

/** Why the host refused a call (the WIT `host-error` variant). */
export enum ErrorKind {
  /** The component's granted capabilities do not cover this call. */
  Denied = 0,
  /** Bad argument: unknown pin, port not open, value out of range. */
  Invalid = 1,
  /** The device failed. */
  Io = 2,
  /** A rate or quota limit was hit. */
  Limited = 3,
  /** Not a host error: a failure the component itself reports with fail(). */
  Component = 4,
  /** No error (the `error` of a successful result). */
  None = 5,
}

export class HostError {
  constructor(public kind: ErrorKind, public message: string) {}
  get kindName(): string {
    switch (this.kind) {
      case ErrorKind.Denied: return "denied";
      case ErrorKind.Invalid: return "invalid";
      case ErrorKind.Io: return "io";
      case ErrorKind.Limited: return "limited";
      case ErrorKind.Component: return "error";
      default: return "none";
    }
  }
  toString(): string {
    return this.kind == ErrorKind.Component ? this.message : this.kindName + ": " + this.message;
  }
}

const NO_ERROR = new HostError(ErrorKind.None, "");

/** Outcome of a call that returns nothing: `isOk`, or `error.kind` / `error.message`. */
export class Status {
  constructor(public error: HostError) {}
  get isOk(): bool { return this.error.kind == ErrorKind.None; }
  get isErr(): bool { return this.error.kind != ErrorKind.None; }
  toString(): string { return this.isOk ? "ok" : this.error.toString(); }
}

/** Outcome of a call that returns a value: `value` is meaningful only when `isOk`. */
export class Result<T> extends Status {
  constructor(public value: T, error: HostError) { super(error); }
}

const OK = new Status(NO_ERROR);

/** The successful Status (shared, allocation-free). */
export function ok(): Status { return OK; }

/** A failed Status: returned from a handler it becomes `err(message)` for the gateway (logged, counted). */
export function fail(message: string): Status {
  return new Status(new HostError(ErrorKind.Component, message));
}

// Reads result<_, host-error> (or the error half of result<T, host-error>) from IMPORT_RET.
function importError(): HostError {
  if (load<u8>(IMPORT_RET) == 0) return NO_ERROR;
  const kind = <ErrorKind>load<u8>(IMPORT_RET, 4);
  const msg = takeHostString(<usize>load<u32>(IMPORT_RET, 8), <usize>load<u32>(IMPORT_RET, 12));
  return new HostError(kind, msg);
}

function status(): Status {
  const e = importError();
  return e.kind == ErrorKind.None ? OK : new Status(e);
}

export namespace gpio {
  /** Reads a BCM line granted under capabilities.gpio.read. */
  export function read(pin: u32): Result<bool> {
    _gpioRead(pin, IMPORT_RET);
    const value = load<u8>(IMPORT_RET) == 0 ? load<u8>(IMPORT_RET, 4) != 0 : false;
    return new Result<bool>(value, importError());
  }
  /** Drives a BCM line granted under capabilities.gpio.write. */
  export function write(pin: u32, value: bool): Status {
    _gpioWrite(pin, value ? 1 : 0, IMPORT_RET);
    return status();
  }
}

export namespace serial {
  /** Writes bytes to a granted port; the value is the number of bytes accepted. */
  export function write(port: string, data: Uint8Array): Result<u32> {
    const len = encode1(port);
    _serialWrite(scratchPtr(), len, data.dataStart, <usize>data.byteLength, IMPORT_RET);
    const n = load<u8>(IMPORT_RET) == 0 ? load<u32>(IMPORT_RET, 4) : 0;
    return new Result<u32>(n, importError());
  }
  /** Writes a string as UTF-8. */
  export function writeString(port: string, text: string): Result<u32> {
    return write(port, Uint8Array.wrap(String.UTF8.encode(text)));
  }
}

export namespace telemetry {
  /** Publishes one number on a channel listed in capabilities.telemetry. */
  export function publish(channel: string, value: f64): Status {
    const len = encode1(channel);
    _publish(scratchPtr(), len, value, IMPORT_RET);
    return status();
  }
  /** Publishes a JSON document (must be valid JSON: see JsonWriter). */
  export function publishJson(channel: string, json: string): Status {
    const lens = encode2(channel, json);
    const la = <usize>(lens >> 32);
    _publishJson(scratchPtr(), la, scratchPtr() + la, <usize>(lens & 0xffffffff), IMPORT_RET);
    return status();
  }
}

export namespace messaging {
  /** Sends bytes to a topic allowed by capabilities.messaging.send. */
  export function send(topic: string, payload: Uint8Array): Status {
    const len = encode1(topic);
    _send(scratchPtr(), len, payload.dataStart, <usize>payload.byteLength, IMPORT_RET);
    return status();
  }
  export function sendString(topic: string, payload: string): Status {
    return send(topic, Uint8Array.wrap(String.UTF8.encode(payload)));
  }
}

export enum LogLevel { Trace = 0, Debug = 1, Info = 2, Warn = 3, Error = 4 }

export namespace log {
  export function write(level: LogLevel, message: string): void {
    const len = encode1(message);
    _log(<i32>level, scratchPtr(), len);
  }
  export function trace(message: string): void { write(LogLevel.Trace, message); }
  export function debug(message: string): void { write(LogLevel.Debug, message); }
  export function info(message: string): void { write(LogLevel.Info, message); }
  export function warn(message: string): void { write(LogLevel.Warn, message); }
  export function error(message: string): void { write(LogLevel.Error, message); }
}

export namespace host {
  /** Milliseconds since the Unix epoch, from the gateway's clock. */
  export function nowMs(): u64 { return _nowMs(); }
  /** A value from the manifest's capabilities.config, or null when the key is not set. */
  export function config(key: string): string | null {
    const len = encode1(key);
    _config(scratchPtr(), len, IMPORT_RET);
    if (load<u8>(IMPORT_RET) == 0) return null;
    return takeHostString(<usize>load<u32>(IMPORT_RET, 4), <usize>load<u32>(IMPORT_RET, 8));
  }
  /** config(key) parsed as a number, or `fallback` when missing or not a number. */
  export function configNumber(key: string, fallback: f64): f64 {
    const s = config(key);
    if (s === null) return fallback;
    const v = parseFloat(s);
    return isNaN(v) ? fallback : v;
  }
}

/** Helpers for byte payloads (serial frames, messages). */
export namespace bytes {
  export function toString(data: Uint8Array): string {
    return String.UTF8.decodeUnsafe(data.dataStart, <usize>data.byteLength);
  }
  export function fromString(s: string): Uint8Array {
    return Uint8Array.wrap(String.UTF8.encode(s));
  }
}
