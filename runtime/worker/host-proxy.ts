import { HostCallError } from '../errors.js';
import type { HostApi, LogLevel } from '../host-api.js';
import { FAILED, IDLE, LEN, LOG_LEVELS, Op, OP, OK, PayloadReader, PayloadWriter, REFUSED, refusal, REPLY, REQUEST, STATE, tagCode, TooLarge, type OpCode } from './protocol.js';

/**
 * Both ends of the host-call channel (protocol.ts).
 *
 * `ProxyHostApi` lives in the worker: the linker binds it exactly as it binds the real HostApi
 * inline, so the glue, the canonical-ABI lifting and the `err(host-error)` mapping are the same
 * code in both modes. Each method encodes its arguments, hands them to the main thread and blocks
 * until the reply.
 *
 * `HostCallServer` lives on the main thread: it waits with Atomics.waitAsync (the event loop stays
 * free while the guest computes), runs the real HostApi method, and writes back the result or the
 * refusal.
 */
export class ProxyHostApi implements HostApi {
  private readonly w: PayloadWriter;
  private readonly r: PayloadReader;
  private readonly header: Int32Array;

  constructor(sab: SharedArrayBuffer) {
    this.w = new PayloadWriter(sab);
    this.r = new PayloadReader(sab);
    this.header = this.w.header;
  }

  /** Encodes with `write`; an argument too large for the channel is refused with `invalid`. */
  private call(op: OpCode, write: (w: PayloadWriter) => void): PayloadReader {
    try {
      write(this.w.reset());
    } catch (err) {
      if (err instanceof TooLarge) throw new HostCallError('invalid', `arguments too large for a worker-isolated component (${err.message})`);
      throw err;
    }
    const h = this.header;
    h[OP] = op;
    h[LEN] = this.w.pos;
    Atomics.store(h, STATE, REQUEST);
    Atomics.notify(h, STATE);
    // Blocks this worker only; the main thread answers between its other work.
    while (Atomics.load(h, STATE) === REQUEST) Atomics.wait(h, STATE, REQUEST);
    const status = h[OP]!;
    const r = this.r.reset();
    Atomics.store(h, STATE, IDLE);
    if (status === OK) return r;
    if (status === REFUSED) {
      const tag = r.u8();
      throw refusal(tag, r.str());
    }
    // Not a HostCallError: traps the guest, as an unexpected host failure does inline.
    throw new Error(r.str());
  }

  gpioRead(pin: number): boolean {
    return this.call(Op.gpioRead, (w) => w.u32(pin)).u8() === 1;
  }
  gpioWrite(pin: number, value: boolean): void {
    this.call(Op.gpioWrite, (w) => w.u32(pin).u8(value ? 1 : 0));
  }
  serialWrite(port: string, data: Uint8Array): number {
    return this.call(Op.serialWrite, (w) => w.str(port).list(data)).u32();
  }
  publish(channel: string, value: number): void {
    this.call(Op.publish, (w) => w.str(channel).f64(value));
  }
  publishJson(channel: string, json: string): void {
    this.call(Op.publishJson, (w) => w.str(channel).str(json));
  }
  send(topic: string, payload: Uint8Array): void {
    this.call(Op.send, (w) => w.str(topic).list(payload));
  }
  log(level: LogLevel, message: string): void {
    // `log` has no error channel: a message longer than the channel is cut (the host cuts at 8K anyway).
    this.call(Op.log, (w) => {
      w.u8(Math.max(0, LOG_LEVELS.indexOf(level)));
      const room = Math.floor(w.free / 3);
      w.str(message.length > room ? message.slice(0, room) : message);
    });
  }
  nowMs(): bigint {
    return this.call(Op.nowMs, () => undefined).u64();
  }
  config(key: string): string | undefined {
    let r: PayloadReader;
    try {
      r = this.call(Op.config, (w) => w.str(key));
    } catch (err) {
      // `config` has no error channel either: a key too long for the channel names nothing.
      if (err instanceof HostCallError) return undefined;
      throw err;
    }
    return r.u8() === 1 ? r.str() : undefined;
  }
}

/** Atomics.waitAsync (V8, Node 16+); the project's ES2022 lib does not declare it. */
type WaitAsync = (a: Int32Array, index: number, value: number) => { async: false; value: 'not-equal' | 'timed-out' } | { async: true; value: Promise<'ok' | 'timed-out'> };
const waitAsync = (Atomics as unknown as { waitAsync: WaitAsync }).waitAsync;

export class HostCallServer {
  private readonly header: Int32Array;
  private readonly r: PayloadReader;
  private readonly w: PayloadWriter;
  private closed = false;
  /** Host calls served (for metrics and tests). */
  calls = 0;

  constructor(
    sab: SharedArrayBuffer,
    private readonly api: HostApi,
    private readonly onCall?: () => void,
  ) {
    this.r = new PayloadReader(sab);
    this.w = new PayloadWriter(sab);
    this.header = this.w.header;
    void this.loop();
  }

  close(): void {
    this.closed = true;
    // Wake the pending waitAsync so the loop sees `closed` and ends.
    Atomics.notify(this.header, STATE);
  }

  private async loop(): Promise<void> {
    const h = this.header;
    while (!this.closed) {
      const state = Atomics.load(h, STATE);
      if (state === REQUEST) {
        this.serve();
        continue;
      }
      const wait = waitAsync(h, STATE, state);
      if (wait.async) await wait.value;
    }
  }

  /** Runs one request; whatever happens, the worker gets a reply (it is blocked until then). */
  serve(): void {
    const h = this.header;
    if (Atomics.load(h, STATE) !== REQUEST) return;
    this.calls++;
    this.onCall?.();
    let status = OK;
    const w = this.w.reset();
    try {
      this.dispatch(h[OP] as OpCode, this.r.reset(), w);
    } catch (err) {
      w.reset();
      if (err instanceof HostCallError) {
        status = REFUSED;
        writeMessage(w.u8(tagCode(err.tag)), err.payload.val);
      } else {
        status = FAILED;
        writeMessage(w, err instanceof Error ? err.message : String(err));
      }
    }
    h[OP] = status;
    h[LEN] = w.pos;
    Atomics.store(h, STATE, REPLY);
    Atomics.notify(h, STATE);
  }

  private dispatch(op: OpCode, r: PayloadReader, w: PayloadWriter): void {
    const api = this.api;
    switch (op) {
      case Op.gpioRead:
        w.u8(api.gpioRead(r.u32()) ? 1 : 0);
        return;
      case Op.gpioWrite:
        api.gpioWrite(r.u32(), r.u8() === 1);
        return;
      case Op.serialWrite: {
        const port = r.str();
        w.u32(api.serialWrite(port, r.list()));
        return;
      }
      case Op.publish: {
        const channel = r.str();
        api.publish(channel, r.f64());
        return;
      }
      case Op.publishJson: {
        const channel = r.str();
        api.publishJson(channel, r.str());
        return;
      }
      case Op.send: {
        const topic = r.str();
        api.send(topic, r.list());
        return;
      }
      case Op.log: {
        const level = LOG_LEVELS[r.u8()] ?? 'info';
        api.log(level, r.str());
        return;
      }
      case Op.nowMs:
        w.u64(api.nowMs());
        return;
      case Op.config: {
        const value = api.config(r.str());
        if (value === undefined) w.u8(0);
        else w.u8(1).str(value);
        return;
      }
      default:
        throw new Error(`unknown host call ${String(op)}`);
    }
  }
}

/** A refusal or failure message, cut to fit the channel. */
function writeMessage(w: PayloadWriter, message: string): void {
  const room = Math.floor(w.free / 3);
  w.str(message.length > room ? message.slice(0, room) : message);
}
