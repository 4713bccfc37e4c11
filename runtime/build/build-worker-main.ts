import { GatewayError } from '../errors.js';
import { loadJco } from '../jco.js';
import { analyzeComponent } from '../analyze.js';
import { instrumentCoreModule } from '../instrument/index.js';
import { buildArtifacts, type BuildOptions } from './artifacts.js';

/**
 * A component and a core module small enough to build in a few ms, run once by `warm`: a process's
 * first transpile otherwise pays for compiling jco's bindgen (lazily, function by function) and for
 * the instrumenter's first, unoptimised run, which made the first OTA after a warm-up seconds slower
 * than the next ones.
 */
const WARM_CORE = '(module (memory (export "memory") 1) (func (export "f") (param i32) (result i32) (local i32) (loop (local.set 1 (i32.add (local.get 1) (i32.const 1))) (br_if 0 (i32.lt_u (local.get 1) (local.get 0)))) (local.get 1)))';
const WARM_COMPONENT = `(component (core module $m (func (export "f") (param i32) (result i32) local.get 0)) (core instance $i (instantiate $m)) (func $f (param "x" u32) (result u32) (canon lift (core func $i "f"))) (export "f" (func $f)))`;

async function warmUp(): Promise<void> {
  const jco = await loadJco();
  await analyzeComponent(await jco.parse(WARM_COMPONENT));
  instrumentCoreModule(await jco.parse(WARM_CORE), { memoryMaxPages: 16 });
}

/**
 * The build process's side (see build-worker.ts): one build at a time, requests and results over
 * the IPC channel. It ends when the channel closes: the gateway closed it, or the gateway died
 * (even by SIGKILL), so a build process never outlives its gateway.
 */
export type BuildRequest = { type: 'build'; id: number; bytes: Uint8Array; opts: BuildOptions } | { type: 'warm'; id: number };
export type BuildReply =
  | { type: 'ready' }
  | { type: 'warmed'; id: number }
  | { type: 'built'; id: number; result: Awaited<ReturnType<typeof buildArtifacts>> }
  | { type: 'error'; id: number; code: string; message: string };

const send = (reply: BuildReply) => process.send!(reply);
let queue = Promise.resolve();
process.on('message', (msg: BuildRequest) => {
  queue = queue.then(async () => {
    if (msg.type === 'warm') {
      // A warm-up that fails (it never should) leaves a process that still builds, only slower.
      await warmUp().catch(() => loadJco());
      send({ type: 'warmed', id: msg.id });
      return;
    }
    try {
      send({ type: 'built', id: msg.id, result: await buildArtifacts(msg.bytes, msg.opts) });
    } catch (err) {
      const code = err instanceof GatewayError ? err.code : 'INVALID_COMPONENT';
      send({ type: 'error', id: msg.id, code, message: err instanceof Error ? err.message : String(err) });
    }
  });
});
process.on('disconnect', () => process.exit(0));
send({ type: 'ready' });
