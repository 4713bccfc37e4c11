import { mkdir, writeFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { GatewayError } from '../../../runtime/errors.js';
import { flagString } from '../args.js';
import type { Verb } from '../io.js';
import { parseVerbArgs, usageError, type VerbSpec } from '../spec.js';
import { TESTING_SPECIFIER } from './test.js';

export const spec: VerbSpec = {
  name: 'new',
  summary: 'scaffold a component project (AssemblyScript source, manifest, test, README)',
  usage: 'new NAME [--dir DIR]',
  about: 'NAME.ts, NAME.yaml, NAME.test.ts and README.md, which build, run and pass their test as they are.',
  flags: [{ name: 'dir', arg: 'DIR', about: 'where to create the project (default ./NAME)' }],
  examples: ['airssys new thermo && airssys test thermo/thermo.test.ts'],
  exits: '0 created, 1 a file exists already, 2 invalid arguments or name',
};
const NAME_RE = /^[a-z0-9][a-z0-9-]{0,63}$/;

/**
 * `airssys new NAME`: scaffolds a component project that builds, runs and passes its test as is:
 * NAME.ts (AssemblyScript with the SDK), NAME.yaml (manifest), NAME.test.ts (vitest with the SDK's
 * test helper, imported as `@airssys/testing` so the folder can move; `airssys test` runs it) and a
 * README with the next commands.
 */
export const run: Verb = async (argv, io) => {
  const args = parseVerbArgs(argv, spec);
  const [name, extra] = args.positionals;
  if (!name || extra !== undefined) throw usageError(spec, 'expected one NAME');
  if (!NAME_RE.test(name)) {
    throw new GatewayError('USAGE', `component name ${JSON.stringify(name)} is not valid; use lowercase letters, digits and dashes, starting with a letter or digit (e.g. "thermo")`);
  }
  const dir = path.resolve(flagString(args, 'dir') ?? name);
  const files = scaffold(name);
  for (const f of Object.keys(files)) {
    if (await exists(path.join(dir, f))) {
      throw new GatewayError('EXISTS', `${path.join(dir, f)} already exists; pick another NAME or --dir, or remove it`);
    }
  }
  await mkdir(dir, { recursive: true });
  for (const [f, text] of Object.entries(files)) await writeFile(path.join(dir, f), text);
  const rel = path.relative(process.cwd(), dir) || '.';
  io.out(`created ${rel}/ with ${Object.keys(files).join(', ')}`);
  io.out(`next: airssys build ${path.join(rel, name + '.ts')} -o ${path.join(rel, name + '.wasm')}`);
  return 0;
};

async function exists(p: string): Promise<boolean> {
  try {
    await stat(p);
    return true;
  } catch {
    return false;
  }
}

export function scaffold(name: string): Record<string, string> {
  const ident = name.replace(/-([a-z0-9])/g, (_, c: string) => c.toUpperCase());
  return {
    [`${name}.ts`]: `// ${name}: an AirsSys component in AssemblyScript. Build: airssys build ${name}.ts -o ${name}.wasm
// Handlers you may export: init, onTick, onGpio, onSerial, onMessage (a missing one returns ok).
// See docs/sdk.md for the API: gpio, serial, telemetry, messaging, log, host.
import { gpio, telemetry, log, host, Status, ok, fail } from "@airssys/sdk";

const BUTTON: u32 = 17;
let threshold: f64 = 0;
let presses: u32 = 0;

export function init(): Status {
  threshold = host.configNumber("threshold", 0.5);
  log.info("${name} started, threshold " + threshold.toString());
  return ok();
}

export function onTick(nowMs: u64): Status {
  const level = gpio.read(BUTTON);
  if (!level.isOk) return fail("cannot read GPIO " + BUTTON.toString() + ": " + level.error.toString());
  return telemetry.publish("level", level.value ? 1.0 : 0.0);
}

export function onGpio(pin: u32, value: bool, atMs: u64): Status {
  if (value) presses++;
  return telemetry.publish("presses", <f64>presses);
}
`,
    [`${name}.yaml`]: `name: ${name}
version: 0.1.0
tick-ms: 1000
capabilities:
  gpio:
    read: [17]
    watch: [{ pin: 17, edge: rising, debounce-ms: 20 }]
  telemetry: [level, presses]
  config: { threshold: "0.5" }
limits: { memory-mb: 4, fuel: 5000000, mailbox: 100 }
restart: { policy: permanent, intensity: 5, period-ms: 60000 }
`,
    [`${name}.test.ts`]: `import { describe, expect, it } from 'vitest';
import { fileURLToPath } from 'node:url';
import { loadComponent } from '${TESTING_SPECIFIER}';

const here = (f: string) => fileURLToPath(new URL(f, import.meta.url));

describe('${name}', () => {
  it('publishes the button level every tick and counts presses', async () => {
    const ${ident} = await loadComponent(here('./${name}.ts'), { manifest: here('./${name}.yaml') });
    expect(${ident}.init()).toMatchObject({ ok: true });
    ${ident}.tick();
    expect(${ident}.last('level')).toBe(0);
    ${ident}.pulse(17, { highMs: 100, lowMs: 100, count: 3 });
    expect(${ident}.last('presses')).toBe(3);
    expect(${ident}.errors()).toEqual([]);
  }, 300_000); // the first load compiles ${name}.ts: minutes on a slow or busy machine
});
`,
    'README.md': `# ${name}

An AirsSys Gateway component written in AssemblyScript (TypeScript syntax) with the AirsSys SDK.

| file | what |
|---|---|
| \`${name}.ts\` | the component: exports \`init\`, \`onTick\`, \`onGpio\` (also possible: \`onSerial\`, \`onMessage\`) |
| \`${name}.yaml\` | its manifest: the capabilities it asks for, limits, restart policy |
| \`${name}.test.ts\` | a vitest test on a simulated board (\`airssys test ${name}.test.ts\`) |

\`\`\`sh
airssys test                                                  # run ${name}.test.ts
airssys build ${name}.ts -o ${name}.wasm                     # compile to a component
airssys run ${name}.wasm --manifest ${name}.yaml --ticks 5   # run it on a simulated board
airssys keygen --out ota                                      # once: a signing key
airssys sign ${name}.wasm --manifest ${name}.yaml --key ota.key -o ${name}.release.json
airssys push ${name}.release.json --broker mqtt://broker:1883 --gateway gw-1
\`\`\`

See docs/sdk.md and docs/tutorial.md in the gateway for the API and the whole walk-through.
`,
  };
}
