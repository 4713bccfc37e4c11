import type { WorldExport } from '../world.js';

/** What the gateway delivers to a component: one of these becomes one export call. */
export type ComponentEvent =
  | { kind: 'tick'; nowMs: number }
  | { kind: 'gpio'; pin: number; value: boolean; atMs: number }
  | { kind: 'serial'; port: string; data: Uint8Array }
  | { kind: 'message'; topic: string; payload: Uint8Array };

export function exportFor(ev: ComponentEvent): { name: WorldExport; args: unknown[] } {
  switch (ev.kind) {
    case 'tick':
      return { name: 'on-tick', args: [BigInt(Math.floor(ev.nowMs))] };
    case 'gpio':
      return { name: 'on-gpio', args: [ev.pin, ev.value, BigInt(Math.floor(ev.atMs))] };
    case 'serial':
      return { name: 'on-serial', args: [ev.port, ev.data] };
    case 'message':
      return { name: 'on-message', args: [ev.topic, ev.payload] };
  }
}
