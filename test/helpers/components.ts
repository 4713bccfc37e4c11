import { buildWat } from '../../runtime/build/wat.js';
import { errWith, OK, sensorWat, strings } from './sensor-wat.js';

/**
 * The runtime's test components, built from WAT at test time (never committed as binaries).
 * Memoised per process: each is built once and shared by the tests that use it.
 */
const memo = new Map<string, Promise<Uint8Array>>();
const once = (name: string, make: () => Promise<Uint8Array>) => {
  if (!memo.has(name)) memo.set(name, make());
  return memo.get(name)!;
};

const S = { temp: 'temperature', hello: 'sensor ready', boom: 'sensor unplugged', gpiostate: 'gpio' };
const T = strings(S);

/**
 * Well-behaved sensor: `init` logs "sensor ready"; each tick reads GPIO 17 and publishes
 * `temperature` = 20 + pin value (21 when high, 20 when low), or, when the read returned err,
 * 100 + the host-error case (100 denied, 101 invalid, ...), so tests see what the guest saw.
 */
export function wellBehavedSensor(): Promise<Uint8Array> {
  return once('sensor', () =>
    buildWat(
      sensorWat({
        strings: S,
        init: `i32.const 2 i32.const ${T.ptr('hello')} i32.const ${T.len('hello')} call $log ${OK}`,
        onTick: `
          i32.const 17 i32.const 16 call $gpio_read
          i32.const ${T.ptr('temp')} i32.const ${T.len('temp')}
          i32.const 16 i32.load8_u
          if (result f64)
            i32.const 20 i32.load8_u f64.convert_i32_u f64.const 100 f64.add
          else
            i32.const 20 i32.load8_u f64.convert_i32_u f64.const 20 f64.add
          end
          i32.const 32 call $publish
          ${OK}`,
      }),
    ),
  );
}

/** Returns err("sensor unplugged") from every tick; init succeeds. */
export function returnsErr(): Promise<Uint8Array> {
  return once('err', () => buildWat(sensorWat({ strings: S, onTick: errWith(T.ptr('boom'), T.len('boom')) })));
}

/** Traps (`unreachable`) on every tick after publishing one sample; init succeeds. */
export function trapsOnTick(): Promise<Uint8Array> {
  return once('trap', () =>
    buildWat(
      sensorWat({
        strings: S,
        onTick: `i32.const ${T.ptr('temp')} i32.const ${T.len('temp')} f64.const 1 i32.const 32 call $publish unreachable`,
      }),
    ),
  );
}

/** A component of another world: it exports `run` and nothing of the sensor world. */
export function otherWorld(): Promise<Uint8Array> {
  return once('other', async () => {
    const { loadJco } = await import('../../runtime/jco.js');
    const jco = await loadJco();
    const core = await jco.parse(`(module (memory (export "memory") 1) (func (export "run")))`);
    const embedded = await jco.componentEmbed({ binary: core, witSource: 'package other:thing@1.0.0;\nworld w { export run: func(); }', world: 'w' });
    return jco.componentNew(embedded, undefined);
  });
}

/** A component that imports an interface outside the world (a made-up `secrets` interface). */
export function importsOutsideWorld(): Promise<Uint8Array> {
  return once('outside', async () => {
    const { loadJco } = await import('../../runtime/jco.js');
    const { worldWit } = await import('../../runtime/world.js');
    const jco = await loadJco();
    const wat = sensorWat().replace('(module', '(module\n  (import "airssys:gateway/secrets@0.1.0" "steal" (func $steal))');
    const core = await jco.parse(wat);
    // The real world plus one extra import; the export list stays intact.
    const wit = worldWit().replace('world sensor {', 'interface secrets { steal: func(); }\n\nworld sensor {\n  import secrets;');
    const embedded = await jco.componentEmbed({ binary: core, witSource: wit, world: 'sensor' });
    return jco.componentNew(embedded, undefined);
  });
}

export { S as STRINGS, T as STRING_TABLE };
