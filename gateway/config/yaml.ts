import YAML, { isCollection, isPair, LineCounter } from 'yaml';
import { clip } from '../../runtime/echo.js';

/**
 * YAML text → plain JS value for every file a user hands us (gateway config, manifests). The yaml
 * library reports some problems as warnings and prints them itself (`process.emitWarning`: a
 * `(node:PID) YAMLWarning …` line on stderr, outside our one-line errors). Here its own printing is
 * off (`logLevel: 'error'`) and every warning becomes one of our problems instead: an unresolved
 * tag or a list used as a key means the file says something other than what its author meant.
 */

export interface YamlResult {
  value: unknown;
  /** One line each, `<file>:<line>:<col>: <what>; <fix>`; empty when the text is usable. */
  problems: string[];
}

export function parseYamlText(text: string, file: string): YamlResult {
  const lineCounter = new LineCounter();
  const doc = YAML.parseDocument(text, { prettyErrors: false, uniqueKeys: true, lineCounter, logLevel: 'error' });
  const at = (offset: number | undefined) => {
    const pos = offset === undefined ? undefined : lineCounter.linePos(offset);
    return pos ? `${file}:${pos.line}:${pos.col}` : file;
  };
  const firstLine = (m: string) => clip(m.split('\n')[0]!, 160);
  const problems: string[] = [];
  for (const e of doc.errors) problems.push(`${at(e.pos[0])}: YAML syntax error (${firstLine(e.message)}); fix the syntax at that line`);
  for (const w of doc.warnings) problems.push(`${at(w.pos[0])}: YAML problem (${firstLine(w.message)}); remove the tag or directive, or quote the value`);
  if (problems.length > 0) return { value: undefined, problems };
  // A list or mapping used as a key would be stringified by toJS (with a library warning).
  YAML.visit(doc, {
    Pair(_, pair) {
      if (isPair(pair) && isCollection(pair.key)) {
        problems.push(`${at(pair.key.range?.[0])}: a list or mapping is used as a key; keys must be plain names`);
      }
    },
  });
  if (problems.length > 0) return { value: undefined, problems };
  try {
    return { value: doc.toJS({ maxAliasCount: 100 }), problems };
  } catch (err) {
    // An alias bomb ("excessive alias count") or a similar resource limit.
    return { value: undefined, problems: [`${file}: YAML cannot be used (${firstLine((err as Error).message)}); remove the repeated aliases`] };
  }
}
