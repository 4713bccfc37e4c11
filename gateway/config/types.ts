import type { Policy } from '../../drivers/policy/policy.js';
import type { RateLimits } from '../../drivers/pipeline/rate-limit.js';
import type { LogLevel } from '../../runtime/host-api-types.js';
import type { Manifest } from '../../runtime/manifest.js';
import type { HomeAssistantConfig, MetricsConfig } from '../extensions/config.js';
import type { UiConfig } from '../extensions/ui/config.js';
import type { CommandsConfig } from '../commands/config.js';

/**
 * The gateway configuration after validation: every default filled in, every path absolute
 * (resolved against the config file's folder), names in camelCase. Nothing downstream re-validates.
 */
export interface GatewayConfig {
  /** Absolute path of the file it came from (undefined when parsed from an object). */
  file: string | undefined;
  gateway: { id: string; dataDir: string; groups: string[] };
  mqtt: MqttConfig;
  board: BoardConfig;
  ota: OtaConfig;
  /** The capability ceiling, parsed once here by the driver layer (drivers/policy/policy.ts); the gateway uses this object. */
  policy: Policy;
  /** `rate-limits`: host-call token buckets per operation class over the defaults (docs/drivers.md). */
  rateLimits: RateLimits;
  components: ComponentConfig[];
  telemetry: TelemetryConfig;
  /** Components' key-value buckets (world 0.2.0). */
  storage: StorageConfig;
  log: { level: LogLevel };
  /** Prometheus `GET /metrics`; undefined: off. */
  metrics?: MetricsConfig | undefined;
  /** Home Assistant MQTT discovery; undefined: off. */
  homeassistant?: HomeAssistantConfig | undefined;
  /** The local status page (docs/status-page.md); undefined: off. */
  ui?: UiConfig | undefined;
  /** Limits on inbound `cmd/…` traffic (gateway/commands). */
  commands: CommandsConfig;
}

/** The same levels as the WIT `log-level` enum (runtime/host-api-types.ts). */
export type { LogLevel } from '../../runtime/host-api-types.js';

export interface MqttConfig {
  /** A broker URL (mqtt://, mqtts://, ws://, wss://) or 'embedded'. */
  url: string;
  /** mqtt.fallback-urls: other nodes of the same broker cluster, tried in turn after `url`. */
  fallbackUrls: string[];
  embedded: boolean;
  /** Port and host the embedded broker listens on (only used when `embedded`). */
  embeddedPort: number;
  embeddedHost: string;
  topicPrefix: string;
  clientId: string | undefined;
  username: string | undefined;
  password: string | undefined;
  /** Absolute paths of PEM files. */
  ca: string | undefined;
  cert: string | undefined;
  key: string | undefined;
  /** 'auto' tries MQTT 5 and falls back to 3.1.1. */
  protocol: 'auto' | 5 | 4;
  keepaliveS: number;
  /** Which settings came from the environment (for the startup log line). */
  fromEnv: string[];
}

export interface BoardConfig {
  kind: 'sim' | 'raspberry-pi';
  options: Record<string, unknown>;
}

export interface OtaConfig {
  /** Absolute paths of trusted Ed25519 public keys (SPKI PEM). */
  trustedKeys: string[];
  threshold: number;
  maxArtifactBytes: number;
  /** How long a freshly activated version must run without crashing before it is committed. */
  probationMs: number;
  /** Give up on a download when no chunk arrives for this long. */
  chunkTimeoutMs: number;
}

export interface ComponentConfig {
  /** Absolute path of the .wasm component. */
  source: string;
  /** Absolute path of the manifest file, or undefined when written inline. */
  manifestPath: string | undefined;
  manifest: Manifest;
}

export interface TelemetryConfig {
  outboxMaxBytes: number;
  outboxMaxAgeMs: number;
  inflightWindow: number;
  healthIntervalMs: number;
  /** `telemetry.commit-interval-ms`: how long a sample may be held in memory only before it is committed (0: next event-loop turn). */
  commitIntervalMs: number;
  /** `telemetry.memory-max-bytes`: samples held in memory at most while the disk refuses writes. */
  memoryMaxBytes: number;
  /** 'normal' survives a process crash; 'full' also survives power loss at the cost of an fsync per commit. */
  synchronous: 'normal' | 'full';
}

export interface StorageConfig {
  /** `storage.flush-ms` (contract 7.1): a bucket's writes are durable within this interval. */
  flushMs: number;
}
