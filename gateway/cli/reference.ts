import { allSpecs } from './main.js';
import { markdownReference } from './spec.js';

/** The text around the generated parts of docs/cli.md. */
const INTRO = [
  'Every verb prints `Usage: …`, its options and an example with `airssys VERB --help` (exit 0);',
  '`airssys --help` lists the verbs and `airssys --version` prints the gateway, jco and world versions.',
  '',
  'Conventions shared by all verbs:',
  '',
  '- Errors are one line on stderr, `error: <problem>; <the fix>`, never a stack trace',
  '  (`AIRSSYS_DEBUG=1` adds one, for bug reports).',
  '- Exit status: 0 success, 1 the operation failed, 2 invalid input (an unknown verb or option, a',
  '  missing argument, a component that cannot be loaded, a push target no gateway has reported for),',
  '  130 interrupted (Ctrl-C).',
  '- `--broker` takes `mqtt://`, `mqtts://`, `ws://` and `wss://` URLs; without a scheme',
  '  (`localhost`, `192.168.1.10:1883`) it means `mqtt://`. Credentials come from `--username`/`--password`,',
  '  the URL\'s `user:password@`, or `AIRSSYS_MQTT_USERNAME`/`AIRSSYS_MQTT_PASSWORD`.',
];

/** docs/cli.md, from the verbs' specs (scripts/cli-docs.mjs writes it; test/cli/help.test.ts checks it is current). */
export async function cliReference(): Promise<string> {
  return markdownReference(await allSpecs(), INTRO);
}
