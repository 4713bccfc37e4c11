// AirsSys component SDK for AssemblyScript.
//
//   import { gpio, telemetry, log, host, Status, ok, fail } from "@airssys/sdk";
//   export function onTick(nowMs: u64): Status { ... return ok(); }
//
// A component module exports any of: init, onTick, onGpio, onSerial, onMessage (see docs/sdk.md for
// their signatures). `airssys build` wraps them into the world's exports; a missing one returns ok.
// AssemblyScript has no exceptions, so every host call returns a Status or Result you can inspect.
// Using i2c, spi or storage makes the component a world 0.2.0 component (sdk/build.ts).

import {
  IMPORT_RET, _config, _gpioRead, _gpioWrite, _i2cTransfer, _log, _nowMs, _publish, _publishJson,
  _send, _serialWrite, _spiTransfer, _storageDelete, _storageGet, _storageListKeys, _storageSet,
  encode1, encode2, freeHostBlock, scratchPtr, takeHostBytes, takeHostString, takeHostStrings,
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
  /**
   * Nothing answered: an I2C address not acknowledged, a device unplugged (world 0.2.0; the
   * variant's case 4, numbered after the existing kinds so their values stay as they were).
   */
  Absent = 6,
}

export class HostError {
  constructor(public kind: ErrorKind, public message: string) {}
  get kindName(): string {
    switch (this.kind) {
      case ErrorKind.Denied: return "denied";
      case ErrorKind.Invalid: return "invalid";
      case ErrorKind.Io: return "io";
      case ErrorKind.Limited: return "limited";
      case ErrorKind.Absent: return "absent";
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
  const tag = load<u8>(IMPORT_RET, 4);
  const kind = tag == 4 ? ErrorKind.Absent : <ErrorKind>tag; // host-error case 4 is `absent`
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
  /**
   * Publishes a JSON document already encoded as UTF-8 bytes, passed to the host as they are. A
   * component that writes its document into a byte buffer skips the string and its re-encoding
   * (both cost fuel per character). `length`: how many of the buffer's bytes (default all).
   */
  export function publishJsonUtf8(channel: string, json: Uint8Array, length: i32 = -1): Status {
    const len = encode1(channel);
    const n = length < 0 || length > json.byteLength ? json.byteLength : length;
    _publishJson(scratchPtr(), len, json.dataStart, <usize>n, IMPORT_RET);
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

// ---- world 0.2.0: buses and storage ----------------------------------------------------------

// Reads result<list<u8>, host-error> from IMPORT_RET: the bytes (copied, host block freed) or empty.
function importBytes(): Result<Uint8Array> {
  if (load<u8>(IMPORT_RET) == 0) {
    return new Result<Uint8Array>(takeHostBytes(<usize>load<u32>(IMPORT_RET, 4), <usize>load<u32>(IMPORT_RET, 8)), NO_ERROR);
  }
  return new Result<Uint8Array>(new Uint8Array(0), importError());
}

// Copies a successful result<list<u8>, host-error> into `into` (null: discard), frees the host block.
function intoStatus(into: Uint8Array): Status {
  if (load<u8>(IMPORT_RET) != 0) return new Status(importError());
  const ptr = <usize>load<u32>(IMPORT_RET, 4);
  const len = <usize>load<u32>(IMPORT_RET, 8);
  if (changetype<usize>(into) != 0 && len != 0) memory.copy(into.dataStart, ptr, min<usize>(len, <usize>into.byteLength));
  freeHostBlock(ptr, len);
  return OK;
}

// Register-sized buffers reused by the I2C helpers, so a register read allocates only its result.
const REG1 = new Uint8Array(1);
const REG2 = new Uint8Array(2);
// The 8 bytes storage.setF64 writes, reused.
const F64_BYTES = new Uint8Array(8);
const F64_BUF = new DataView(F64_BYTES.buffer);

export namespace i2c {
  /**
   * One transaction with a device granted under capabilities.i2c: writes `data` (may be empty),
   * then reads `readLen` bytes (0: write only), with a repeated start where the adapter allows.
   * An address that does not acknowledge gives ErrorKind.Absent.
   */
  export function transfer(bus: u8, address: u16, data: Uint8Array, readLen: u32): Result<Uint8Array> {
    _i2cTransfer(<i32>bus, <i32>address, data.dataStart, <usize>data.byteLength, readLen, IMPORT_RET);
    return importBytes();
  }
  /** Writes bytes (for most devices: a register address, then values for it and the next ones). */
  export function write(bus: u8, address: u16, data: Uint8Array): Status {
    _i2cTransfer(<i32>bus, <i32>address, data.dataStart, <usize>data.byteLength, 0, IMPORT_RET);
    return intoStatus(changetype<Uint8Array>(0));
  }
  /**
   * Reads `into.length` bytes starting at register `reg` into a buffer the component keeps: no
   * allocation on success, so a component reading a sensor every tick leaves the GC nothing to do
   * (a GC step costs as much fuel as a whole BME280 reading).
   */
  export function readRegistersInto(bus: u8, address: u16, reg: u8, into: Uint8Array): Status {
    REG1[0] = reg;
    _i2cTransfer(<i32>bus, <i32>address, REG1.dataStart, 1, <u32>into.byteLength, IMPORT_RET);
    return intoStatus(into);
  }
  /** Reads `len` bytes starting at register `reg` (register auto-increment, as most sensors do). */
  export function readRegisters(bus: u8, address: u16, reg: u8, len: u32): Result<Uint8Array> {
    REG1[0] = reg;
    return transfer(bus, address, REG1, len);
  }
  /** Reads one register; `value` is 0 on error. */
  export function readRegister(bus: u8, address: u16, reg: u8): Result<u8> {
    const r = readRegisters(bus, address, reg, 1);
    return new Result<u8>(r.isOk && r.value.length == 1 ? r.value[0] : 0, r.error);
  }
  /** Writes one register. */
  export function writeRegister(bus: u8, address: u16, reg: u8, value: u8): Status {
    REG2[0] = reg;
    REG2[1] = value;
    return write(bus, address, REG2);
  }
}

export namespace spi {
  /**
   * Full duplex with a device granted under capabilities.spi: clocks `data` out and returns the
   * bytes clocked in (same length). Speed and mode come from the manifest.
   */
  export function transfer(bus: u8, chipSelect: u8, data: Uint8Array): Result<Uint8Array> {
    _spiTransfer(<i32>bus, <i32>chipSelect, data.dataStart, <usize>data.byteLength, IMPORT_RET);
    return importBytes();
  }
  /** transfer, with the bytes clocked in copied into `into` (same length as `data`): no allocation on success. */
  export function transferInto(bus: u8, chipSelect: u8, data: Uint8Array, into: Uint8Array): Status {
    _spiTransfer(<i32>bus, <i32>chipSelect, data.dataStart, <usize>data.byteLength, IMPORT_RET);
    return intoStatus(into);
  }
}

/**
 * The component's own key-value bucket (capabilities.storage gives its quota). A `set` is visible
 * at once and durable within the gateway's storage flush interval; the bucket survives restarts and
 * updates. Keys are 1-256 bytes of UTF-8, values at most 65536 bytes; over quota gives Limited.
 */
export namespace storage {
  /** The value under `key`: `value` is null when the key is not set. */
  export function get(key: string): Result<Uint8Array | null> {
    const len = encode1(key);
    _storageGet(scratchPtr(), len, IMPORT_RET);
    if (load<u8>(IMPORT_RET) != 0) return new Result<Uint8Array | null>(null, importError());
    if (load<u8>(IMPORT_RET, 4) == 0) return new Result<Uint8Array | null>(null, NO_ERROR);
    return new Result<Uint8Array | null>(takeHostBytes(<usize>load<u32>(IMPORT_RET, 8), <usize>load<u32>(IMPORT_RET, 12)), NO_ERROR);
  }
  export function set(key: string, value: Uint8Array): Status {
    const len = encode1(key);
    _storageSet(scratchPtr(), len, value.dataStart, <usize>value.byteLength, IMPORT_RET);
    return status();
  }
  /** Deletes `key`; `value` is true when it existed. (`delete` is a reserved word in AssemblyScript.) */
  export function remove(key: string): Result<bool> {
    const len = encode1(key);
    _storageDelete(scratchPtr(), len, IMPORT_RET);
    const existed = load<u8>(IMPORT_RET) == 0 ? load<u8>(IMPORT_RET, 4) != 0 : false;
    return new Result<bool>(existed, importError());
  }
  /** The keys that start with `prefix` ("" for all), sorted. */
  export function listKeys(prefix: string): Result<Array<string>> {
    const len = encode1(prefix);
    _storageListKeys(scratchPtr(), len, IMPORT_RET);
    if (load<u8>(IMPORT_RET) != 0) return new Result<Array<string>>([], importError());
    return new Result<Array<string>>(takeHostStrings(<usize>load<u32>(IMPORT_RET, 4), <usize>load<u32>(IMPORT_RET, 8)), NO_ERROR);
  }

  /** A string value (UTF-8); null when not set. */
  export function getString(key: string): Result<string | null> {
    const r = get(key);
    const v = r.value;
    return new Result<string | null>(v === null ? null : String.UTF8.decodeUnsafe(v.dataStart, <usize>v.byteLength), r.error);
  }
  export function setString(key: string, value: string): Status {
    return set(key, Uint8Array.wrap(String.UTF8.encode(value)));
  }
  /** A number stored by setF64 (8 bytes, little-endian); `fallback` when not set or not 8 bytes. */
  export function getF64(key: string, fallback: f64): Result<f64> {
    const r = get(key);
    const v = r.value;
    return new Result<f64>(v !== null && v.byteLength == 8 ? load<f64>(v.dataStart) : fallback, r.error);
  }
  export function setF64(key: string, value: f64): Status {
    F64_BUF.setFloat64(0, value, true);
    return set(key, F64_BYTES);
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
