import { HostCallError } from '../errors.js';
import type { HostApi } from '../host-api.js';
import { HOST_FUNCTIONS, type HostFunctionEntry } from '../interfaces/index.js';
import { FAILED, IDLE, LEN, OP, OK, PayloadReader, PayloadWriter, readWire, REFUSED, refusalFromCode, REPLY, REQUEST, STATE, tagCode, TooLarge, writeWire, type OpCode } from './protocol.js';

/**
 * Both ends of the host-call channel (protocol.ts).
 *
 * `ProxyHostApi` lives in the worker: the linker binds it (`.api`) exactly as it binds the real
 * HostApi inline, so the glue, the canonical-ABI lifting and the `err(host-error)` mapping are the
 * same code in both modes. Each method, derived from the interface descriptors, encodes its
 * arguments by their wire types, hands them to the main thread under the function's derived op code
 * and blocks until the reply.
 *
 * `HostCallServer` lives on the main thread: it waits with Atomics.waitAsync (the event loop stays
 * free while the guest computes), runs the real HostApi method, and writes back the result or the
 * refusal.
 */
export class ProxyHostApi {
  private readonly w: PayloadWriter;
  private readonly r: PayloadReader;
  private readonly header: Int32Array;

  constructor(sab: SharedArrayBuffer) {
    this.w = new PayloadWriter(sab);
    this.r = new PayloadReader(sab);
    this.header = this.w.header;
    // One method per host function, derived from the descriptors (runtime/interfaces/).
    const self = this as unknown as Record<string, (...a: unknown[]) => unknown>;
    for (const e of HOST_FUNCTIONS) self[e.fn.method] = this.method(e);
  }

  /** The HostApi view of this proxy (what the linker binds). */
  get api(): HostApi {
    return this as unknown as HostApi;
  }

  private method(e: HostFunctionEntry): (...a: unknown[]) => unknown {
    const { params, result, overflow } = e.fn;
    const last = params.length - 1;
    const write = (w: PayloadWriter, a: unknown[]) => {
      for (let i = 0; i < params.length; i++) {
        const type = params[i]!.type;
        let v = a[i];
        if (i === last && overflow === 'truncate-last' && type === 'string') {
          // No error channel: a string longer than the channel is cut (the host cuts logs at 8K anyway).
          const room = Math.floor(w.free / 3);
          const s = v as string;
          if (s.length > room) v = s.slice(0, room);
        }
        writeWire(w, type, v);
      }
    };
    if (overflow === 'undefined') {
      return (...a: unknown[]) => {
        let r: PayloadReader;
        try {
          r = this.call(e.op, (w) => write(w, a));
        } catch (err) {
          // No error channel either: arguments too long for the channel name nothing.
          if (err instanceof HostCallError) return undefined;
          throw err;
        }
        return readWire(r, result);
      };
    }
    return (...a: unknown[]) => readWire(this.call(e.op, (w) => write(w, a)), result);
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
      throw refusalFromCode(tag, r.str());
    }
    // Not a HostCallError: traps the guest, as an unexpected host failure does inline.
    throw new Error(r.str());
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
    const e = HOST_FUNCTIONS[op - 1];
    if (e === undefined || e.op !== op) throw new Error(`unknown host call ${String(op)}`);
    const params = e.fn.params;
    const args: unknown[] = new Array(params.length);
    for (let i = 0; i < params.length; i++) args[i] = readWire(r, params[i]!.type);
    const method = (this.api as unknown as Record<string, (...a: unknown[]) => unknown>)[e.fn.method]!;
    writeWire(w, e.fn.result, method.apply(this.api, args));
  }
}

/** A refusal or failure message, cut to fit the channel. */
function writeMessage(w: PayloadWriter, message: string): void {
  const room = Math.floor(w.free / 3);
  w.str(message.length > room ? message.slice(0, room) : message);
}
