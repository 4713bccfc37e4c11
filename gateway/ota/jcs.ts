/**
 * RFC 8785 JSON Canonicalization Scheme: the exact bytes an OTA signature covers.
 *
 * ECMAScript already gives us two of the three rules: `JSON.stringify(number)` is the RFC's number
 * serialization (it is defined as ES Number::toString, with -0 printed as 0), and
 * `JSON.stringify(string)` is its string escaping (short escapes for \b \t \n \f \r " \\, lowercase
 * \u00xx for other controls, everything else verbatim). The third rule — object keys sorted by
 * UTF-16 code units — is what `Array.prototype.sort` does with no comparator.
 *
 * The RFC requires I-JSON input, so lone surrogates, NaN/Infinity and non-plain values throw rather
 * than being written in some form a verifier on another platform would produce differently.
 */

export class JcsError extends Error {
  override name = 'JcsError';
}

export function canonicalize(value: unknown): string {
  const out: string[] = [];
  write(value, out, '$');
  return out.join('');
}

/** The canonical form as UTF-8 bytes (what is signed). */
export function canonicalBytes(value: unknown): Buffer {
  return Buffer.from(canonicalize(value), 'utf8');
}

const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

function writeString(s: string, out: string[], path: string): void {
  if (LONE_SURROGATE.test(s)) throw new JcsError(`${path}: string has a lone UTF-16 surrogate (not I-JSON)`);
  out.push(JSON.stringify(s));
}

function write(value: unknown, out: string[], path: string): void {
  if (value === null) {
    out.push('null');
    return;
  }
  switch (typeof value) {
    case 'boolean':
      out.push(value ? 'true' : 'false');
      return;
    case 'number':
      if (!Number.isFinite(value)) throw new JcsError(`${path}: ${value} is not a JSON number`);
      out.push(JSON.stringify(value));
      return;
    case 'string':
      writeString(value, out, path);
      return;
    case 'object': {
      if (Array.isArray(value)) {
        out.push('[');
        value.forEach((item, i) => {
          if (i > 0) out.push(',');
          // JSON.stringify writes undefined array items as null; so do we, to agree with it.
          write(item === undefined ? null : item, out, `${path}[${i}]`);
        });
        out.push(']');
        return;
      }
      const proto = Object.getPrototypeOf(value);
      if (proto !== Object.prototype && proto !== null) throw new JcsError(`${path}: only plain objects can be canonicalized`);
      const obj = value as Record<string, unknown>;
      // Keys whose value is undefined are absent, as in JSON.stringify.
      const keys = Object.keys(obj).filter((k) => obj[k] !== undefined).sort();
      out.push('{');
      keys.forEach((k, i) => {
        if (i > 0) out.push(',');
        writeString(k, out, path);
        out.push(':');
        write(obj[k], out, `${path}.${k}`);
      });
      out.push('}');
      return;
    }
    default:
      throw new JcsError(`${path}: ${typeof value} is not JSON`);
  }
}
