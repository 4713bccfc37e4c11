import { parentPort, workerData } from 'node:worker_threads';
import { ComponentInstance, type CallOutcome } from '../instance.js';
import { Linker } from '../linker.js';
import { chargeHostCalls } from '../metering/host-charge.js';
import type { WorldExport } from '../world.js';
import { ProxyHostApi } from './host-proxy.js';
import { importGlue } from '../glue-module.js';
import { oneLine } from '../build/component.js';

/**
 * The worker side of `isolation: worker`: one component instance, instantiated here from the glue
 * text and compiled modules the main thread's cache verified (never anything else), linked to a
 * HostApi that forwards every call to the main thread. Events arrive one at a time as messages;
 * each outcome goes back with the instance's memory size. Classification is ComponentInstance's
 * own, so both modes report crashes the same way.
 */
export interface WorkerInit {
  glue: string;
  modules: [string, WebAssembly.Module][];
  channel: SharedArrayBuffer;
  fuel: number;
  timed: boolean;
}

export type ToWorker = { id: number; event: WorldExport; args: unknown[] };
export type FromWorker =
  | { type: 'ready' }
  | { type: 'failed'; message: string }
  | { type: 'outcome'; id: number; outcome: CallOutcome; memoryBytes: number; crashed: boolean };


async function main(): Promise<void> {
  const port = parentPort!;
  const init = workerData as WorkerInit;
  const post = (m: FromWorker) => port.postMessage(m);
  let instance: ComponentInstance;
  try {
    const glue = await importGlue(init.glue);
    const modules = new Map(init.modules);
    const imports = new Linker().bind(new ProxyHostApi(init.channel).api);
    // Host calls are charged fuel here, in the worker, where the guest's counter lives.
    instance = new ComponentInstance((core, charge) => glue.instantiate((name) => modules.get(name)!, chargeHostCalls(imports, charge), core), { fuel: init.fuel, timed: init.timed });
  } catch (err) {
    post({ type: 'failed', message: oneLine(err) });
    return;
  }
  port.on('message', (msg: ToWorker) => {
    const outcome = instance.call(msg.event, msg.args);
    post({ type: 'outcome', id: msg.id, outcome, memoryBytes: instance.memoryBytes(), crashed: instance.isCrashed });
  });
  post({ type: 'ready' });
}

void main();
