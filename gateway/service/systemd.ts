import type { MqttConnection } from '../mqtt/connection.js';
import { notifierFromEnv, type Notifier } from './notify.js';
import { brokerProbe, supervisorProbe, Watchdog, watchdogIntervalMs } from './watchdog.js';

/**
 * The gateway as a systemd `Type=notify` service: READY=1 once started, a STATUS line, WATCHDOG=1
 * from the liveness-checked watchdog (watchdog.ts) when `WatchdogSec=` is set, STOPPING=1 when it
 * begins to stop. Outside systemd (no NOTIFY_SOCKET) it does nothing and loads nothing.
 */

/** What the service layer reads from the running gateway (no reach into its internals). */
export interface ServiceView {
  services: ReadonlyMap<string, { name: string; ping(): Promise<void>; readonly state: string }>;
  connection: () => MqttConnection;
  log: (level: 'info' | 'warn' | 'error', message: string) => void;
}

export interface SystemdService {
  /** STOPPING=1 and no more pings (the first thing a stopping gateway does). */
  stopping(): void;
}

export function startSystemdService(view: ServiceView, env: NodeJS.ProcessEnv = process.env): SystemdService | undefined {
  let notifier: Notifier | undefined;
  try {
    notifier = notifierFromEnv(env, { onError: (m) => view.log('warn', m) });
  } catch (err) {
    // Not fatal: the gateway serves as before; without READY=1 systemd gives up on the start after
    // TimeoutStartSec and says why in the journal, next to this line.
    view.log('error', (err as Error).message);
    return undefined;
  }
  if (!notifier) return undefined;
  const n = notifier;

  const status = () => {
    let running = 0;
    for (const s of view.services.values()) if (s.state === 'running') running++;
    const conn = view.connection();
    return `${running}/${view.services.size} components running; broker ${conn.connected ? 'connected' : 'not connected (buffering telemetry)'}`;
  };

  const intervalMs = watchdogIntervalMs(env);
  let watchdog: Watchdog | undefined;
  n.send({ READY: 1, STATUS: status(), MAINPID: process.pid });
  if (intervalMs !== undefined) {
    watchdog = new Watchdog({
      notify: (f) => n.send(f),
      intervalMs,
      // A supervisor gets one full watchdog period to answer before the gateway counts as hung.
      probes: [supervisorProbe(() => view.services.values(), intervalMs * 2), brokerProbe(() => view.connection().liveness())],
      status,
      log: (level, m) => view.log(level, m),
    });
    watchdog.start();
    view.log('info', `systemd watchdog: pinging every ${intervalMs} ms while the gateway is alive`);
  }
  return {
    stopping() {
      watchdog?.stop();
      n.send({ STOPPING: 1, STATUS: 'stopping' });
      n.close();
    },
  };
}
