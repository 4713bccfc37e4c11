// A tiny JSON writer: AssemblyScript has no JSON.stringify. Builds one object or array at a time.
//   new JsonWriter().num("t", 21.5).str("unit", "C").toString()  ->  {"t":21.5,"unit":"C"}

export class JsonWriter {
  private parts: string[] = [];
  private first: bool = true;
  constructor(private open: string = "{", private close: string = "}") {}

  private key(k: string): void {
    if (!this.first) this.parts.push(",");
    this.first = false;
    if (k.length > 0 || this.open == "{") this.parts.push(quote(k) + ":");
  }
  num(k: string, v: f64): JsonWriter {
    this.key(k);
    this.parts.push(isFinite(v) ? formatNumber(v) : "null");
    return this;
  }
  int(k: string, v: i64): JsonWriter {
    this.key(k);
    this.parts.push(v.toString());
    return this;
  }
  str(k: string, v: string): JsonWriter {
    this.key(k);
    this.parts.push(quote(v));
    return this;
  }
  bool(k: string, v: bool): JsonWriter {
    this.key(k);
    this.parts.push(v ? "true" : "false");
    return this;
  }
  /** Inserts already-serialized JSON (e.g. another JsonWriter's output). */
  raw(k: string, json: string): JsonWriter {
    this.key(k);
    this.parts.push(json);
    return this;
  }
  numArray(k: string, values: f64[]): JsonWriter {
    this.key(k);
    const items = new Array<string>(values.length);
    for (let i = 0; i < values.length; i++) items[i] = isFinite(values[i]) ? formatNumber(values[i]) : "null";
    this.parts.push("[" + items.join(",") + "]");
    return this;
  }
  toString(): string {
    return this.open + this.parts.join("") + this.close;
  }
}

function formatNumber(v: f64): string {
  // Integers print without AssemblyScript's trailing ".0" so the JSON reads like JavaScript's.
  if (v == Math.floor(v) && Math.abs(v) < 9007199254740992.0) return (<i64>v).toString();
  return v.toString();
}

export function quote(s: string): string {
  let out = "\"";
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c == 0x22) out += "\\\"";
    else if (c == 0x5c) out += "\\\\";
    else if (c == 0x0a) out += "\\n";
    else if (c == 0x0d) out += "\\r";
    else if (c == 0x09) out += "\\t";
    else if (c < 0x20) out += "\\u" + c.toString(16).padStart(4, "0");
    else out += String.fromCharCode(c);
  }
  return out + "\"";
}
