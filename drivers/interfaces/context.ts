import { GatewayError, HostCallError } from '../../runtime/errors.js';
import type { HostApi, HostMethod } from '../../runtime/host-api.js';
import type { HostInterface } from '../../runtime/interfaces/index.js';
import type { LogLevel } from '../../runtime/host-api.js';
import type { Manifest } from '../../runtime/manifest.js';
import type { Board } from '../board.js';
import type { Audit } from '../pipeline/audit.js';
import type { Grant } from '../policy/grant.js';
import type { ComponentMetrics } from '../pipeline/metrics.js';
import { OP_CLASSES, type OpClass, type RateLimiter } from '../pipeline/rate-limit.js';
import type { BucketStore } from '../storage/store.js';
import { refusal } from '../../runtime/errors.js';
import type { SerialLink } from '../serial/types.js';

/**
 * What an interface implementation (drivers/interfaces/<name>.ts) gets for one component: the
 * grant, the board, the sinks, its counters and buckets, and the pipeline's refusal helpers, so
 * every interface refuses, counts and audits the same way.
 */

export type TelemetrySample = { value: number } | { json: unknown };

/** Where allowed calls end up (the MQTT/telemetry layer and the gateway log provide these). */
export interface HostSinks {
  telemetry(channel: string, sample: TelemetrySample): void;
  message(topic: string, payload: Uint8Array): void;
  log(level: LogLevel, message: string): void;
}

export interface ComponentId {
  name: string;
  version: string;
}

/** The devices a component holds while it runs (drivers/device-lease.ts acquires them). */
export interface DeviceLease {
  readonly component: ComponentId;
  readonly serial: ReadonlyMap<string, SerialLink>;
  readonly outputs: readonly number[];
  readonly watches: readonly number[];
  readonly released: boolean;
}

export interface HostContext {
  readonly component: ComponentId;
  readonly grant: Grant;
  readonly board: Board;
  readonly audit: Audit | undefined;
  readonly sinks: HostSinks;
  readonly metrics: ComponentMetrics;
  readonly limiter: RateLimiter;
  readonly config: ReadonlyMap<string, string>;
  /**
   * The devices the component holds now, read at each call: a swap that re-acquires devices
   * replaces the lease after this context was made, and a released lease's links are closed.
   */
  readonly devices: () => DeviceLease | undefined;
  readonly now: () => number;
  /** Where the component's storage bucket lives; undefined: a bucket in memory. */
  readonly storage: BucketStore | undefined;
  /** Counts and throws `invalid(msg)`. */
  invalid(msg: string): never;
  /** Counts, audits and throws `denied(missing capability ...)`. */
  deny(op: string, target: string, missing: string): never;
  /** Counts and throws `limited(..)`: a rate class names its limit, any other text is the message. */
  limited(clsOrMessage: OpClass | string): never;
  /** Rethrows a refusal as is; anything else as `io(what: message)`, counted as a device error. */
  failed(err: unknown, what: string): never;
}

export function createContext(fields: Omit<HostContext, 'invalid' | 'deny' | 'limited' | 'failed'>): HostContext {
  const { component, audit, metrics: m, limiter } = fields;
  return {
    ...fields,
    invalid(msg: string): never {
      m.invalid++;
      throw refusal('invalid', msg);
    },
    deny(op: string, target: string, missing: string): never {
      m.denied++;
      audit?.denied({ component: component.name, version: component.version, op, target, reason: `missing capability ${missing}` });
      throw refusal('denied', `missing capability ${missing}`);
    },
    limited(clsOrMessage: OpClass | string): never {
      m.limited++;
      throw refusal('limited', (OP_CLASSES as readonly string[]).includes(clsOrMessage) ? limiter.limitText(clsOrMessage as OpClass) : clsOrMessage);
    },
    failed(err: unknown, what: string): never {
      const e = err instanceof HostCallError ? err : refusal('io', `${what}: ${err instanceof Error ? err.message : String(err)}`);
      if (e.tag === 'io') m.errors++;
      throw e;
    },
  };
}

/** Builds a `config policy.<path>: problem; fix` error. */
export type PolicyErrorFn = (path: string, problem: string, fix: string) => GatewayError;

/** An interface's part of the policy ceiling (contract section 2): its key under a role. */
export interface PolicyPart<R> {
  /** The key under `policy.roles.<role>` (`gpio`). */
  readonly key: string;
  /** Parses the role's value under `key` (undefined when absent: the empty grant). */
  parse(v: unknown, path: string, err: PolicyErrorFn): R;
  /** One line per capability the manifest asks for beyond its roles; `by` names the roles. */
  check(manifest: Manifest, roles: readonly R[], who: string, by: string): string[];
}

/**
 * One interface's host side: its descriptor, its policy part, and its host functions for one
 * component. The list of these (drivers/interfaces/index.ts) is what createHostApi and the policy
 * are built from.
 */
export interface InterfaceDriver<M extends HostMethod = HostMethod, R = unknown> {
  readonly descriptor: HostInterface;
  readonly policy?: PolicyPart<R>;
  implement(ctx: HostContext): Pick<HostApi, M>;
}

export const driver = <M extends HostMethod, R = unknown>(d: InterfaceDriver<M, R>): InterfaceDriver<M, R> => d;

