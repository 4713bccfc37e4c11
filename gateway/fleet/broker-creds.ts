import { pbkdf2Sync, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { GatewayError } from '../../runtime/errors.js';
import { atomicWrite } from '../../runtime/durable.js';
import { topics } from '../mqtt/topics.js';

/**
 * Per-gateway broker accounts for Mosquitto 2: a password-file line, the ACL that confines a gateway
 * to its own topics (and its groups' OTA), and the operator's account that drives push/rollout.
 *
 * One folder holds everything (`--out DIR`), so the verb can be run once per gateway and the broker
 * pointed at two files that it rebuilds each time:
 *   DIR/passwd          `user:$7$…` lines (mosquitto `password_file`)
 *   DIR/acl             the shared `pattern` rules, then every account's `user` block (`acl_file`)
 *   DIR/acl.d/<u>.acl   one account's `user` block (the source of DIR/acl)
 *   DIR/<u>.yaml        the gateway's mqtt.username/password snippet (0600)
 *   DIR/<u>.env         the operator's AIRSSYS_MQTT_USERNAME/PASSWORD (0600)
 * Topic names are contract section 4 (and 7.4 for rollouts); `%u` is the username, which for a
 * gateway is its `gateway.id`.
 */

/** Mosquitto 2's `$7$` format: PBKDF2-HMAC-SHA512, 101 iterations (mosquitto_passwd's default), 12-byte salt, 64-byte hash, base64. */
export const MOSQUITTO_ITERATIONS = 101;

export function mosquittoHash(password: string, o: { salt?: Buffer; iterations?: number } = {}): string {
  const salt = o.salt ?? randomBytes(12);
  const iterations = o.iterations ?? MOSQUITTO_ITERATIONS;
  const hash = pbkdf2Sync(password, salt, iterations, 64, 'sha512');
  return `$7$${iterations}$${salt.toString('base64')}$${hash.toString('base64')}`;
}

/** 32 random bytes, base64url: 256 bits, no characters that need quoting in YAML, URLs or shells. */
export function generatePassword(): string {
  return randomBytes(32).toString('base64url');
}

/**
 * Usernames become topic levels through `%u`: no `/ + #` (they would widen the rule), and no `.`
 * or spaces (NATS MQTT rejects them in topics), which leaves gateway.id's alphabet minus the dot.
 */
export const ACCOUNT_RE = /^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$/;

/** Rules every account gets: `%u` is the username, so each gateway is confined to its own subtree. */
export function patternAcl(prefix: string): string[] {
  const own = topics.gateway(prefix, '%u');
  return [
    `# airssys: each gateway (username = gateway.id) writes only under its own id and reads only its own commands and OTA.`,
    `pattern write ${topics.gatewayState(prefix, '%u')}`,
    `pattern write ${topics.health(prefix, '%u')}`,
    `pattern write ${topics.componentState(prefix, '%u', '+')}`,
    `pattern write ${topics.componentUpdate(prefix, '%u', '+')}`,
    `pattern write ${own}/telemetry/#`,
    `pattern write ${own}/messages/#`,
    `pattern write ${topics.otaStatus(prefix, '%u', '+')}`,
    `pattern read ${topics.commands(prefix, '%u')}#`,
    `pattern read ${topics.adminRetry(prefix, '%u', '+')}`,
    `pattern read ${topics.ota(prefix, '%u', '+')}`,
  ];
}

/** A gateway's own block: its groups' OTA topics and the (content-addressed, signed) artifacts. */
export function gatewayAcl(id: string, groups: string[], prefix: string): string[] {
  return [
    `user ${id}`,
    ...groups.map((g) => `topic read ${topics.groupOta(prefix, g, '+')}`),
    `topic read ${prefix}/artifacts/#`,
  ];
}

/** The operator (push, rollout, status, fleet ls, telemetry): reads everything, writes only what the CLI sends. */
export function operatorAcl(name: string, prefix: string): string[] {
  return [
    `user ${name}`,
    `topic read ${prefix}/#`,
    `topic write ${topics.ota(prefix, '+', '+')}`,
    `topic write ${topics.commands(prefix, '+')}#`,
    `topic write ${topics.adminRetry(prefix, '+', '+')}`,
    `topic write ${topics.groupOta(prefix, '+', '+')}`,
    `topic write ${prefix}/artifacts/#`,
    `topic write ${prefix}/rollouts/#`,
  ];
}

export interface CredsRequest {
  dir: string;
  kind: 'gateway' | 'operator';
  name: string;
  groups: string[];
  prefix: string;
  /** Replace an existing account (new password). */
  force: boolean;
  /** For the gateway snippet's mqtt.url; a placeholder when absent. */
  broker?: string;
}

export interface CredsResult {
  password: string;
  passwdFile: string;
  aclFile: string;
  /** The gateway's config snippet or the operator's env file. */
  secretFile: string;
}

export async function writeCreds(r: CredsRequest): Promise<CredsResult> {
  if (!ACCOUNT_RE.test(r.name)) {
    throw new GatewayError('USAGE', `${JSON.stringify(r.name)} cannot be a broker username; use letters, digits, _ and - (no dots: NATS MQTT refuses them in topics), at most 64 characters`);
  }
  for (const g of r.groups) {
    if (!ACCOUNT_RE.test(g)) throw new GatewayError('USAGE', `${JSON.stringify(g)} is not a usable group name in an ACL; use letters, digits, _ and -`);
  }
  if (!/^[A-Za-z0-9_-]+(\/[A-Za-z0-9_-]+)*$/.test(r.prefix)) throw new GatewayError('USAGE', `--prefix ${JSON.stringify(r.prefix)} is not a topic prefix; use e.g. airssys`);
  mkdirSync(join(r.dir, 'acl.d'), { recursive: true });
  const passwdFile = join(r.dir, 'passwd');
  const lines = existsSync(passwdFile) ? readFileSync(passwdFile, 'utf8').split('\n').filter((l) => l.trim() !== '') : [];
  const others = lines.filter((l) => !l.startsWith(`${r.name}:`));
  if (others.length !== lines.length && !r.force) {
    throw new GatewayError('EXISTS', `${r.name} already has a password in ${passwdFile}; pass --force to give it a new one`);
  }
  const password = generatePassword();
  await atomicWrite(passwdFile, [...others, `${r.name}:${mosquittoHash(password)}`].join('\n') + '\n', { mode: 0o600 });

  const block = r.kind === 'gateway' ? gatewayAcl(r.name, r.groups, r.prefix) : operatorAcl(r.name, r.prefix);
  await atomicWrite(join(r.dir, 'acl.d', `${r.name}.acl`), block.join('\n') + '\n');
  const aclFile = join(r.dir, 'acl');
  const blocks = readdirSync(join(r.dir, 'acl.d'))
    .filter((f) => f.endsWith('.acl'))
    .sort()
    .map((f) => readFileSync(join(r.dir, 'acl.d', f), 'utf8').trimEnd());
  // Mosquitto applies `pattern` lines to every user wherever they stand; they come first for the reader.
  await atomicWrite(aclFile, [`# generated by airssys broker-creds; edit acl.d/*.acl and rerun, or regenerate`, ...patternAcl(r.prefix), '', ...blocks.flatMap((b) => [b, ''])].join('\n') + '\n');

  let secretFile: string;
  if (r.kind === 'gateway') {
    secretFile = join(r.dir, `${r.name}.yaml`);
    const snippet = [
      `# merge into the gateway's config (gateway.id must be ${r.name})`,
      `gateway: { id: ${r.name}${r.groups.length ? `, groups: [${r.groups.join(', ')}]` : ''} }`,
      `mqtt:`,
      `  url: ${r.broker ?? 'mqtts://broker.example:8883'}`,
      `  username: ${r.name}`,
      `  password: ${password}`,
      '',
    ];
    await atomicWrite(secretFile, snippet.join('\n'), { mode: 0o600 });
  } else {
    secretFile = join(r.dir, `${r.name}.env`);
    await atomicWrite(secretFile, `AIRSSYS_MQTT_USERNAME=${r.name}\nAIRSSYS_MQTT_PASSWORD=${password}\n`, { mode: 0o600 });
  }
  return { password, passwdFile, aclFile, secretFile };
}
