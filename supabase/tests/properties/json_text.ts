// JSON written as text so that numbers keep the spelling a user gave them (5, 5.0, 5e0), which
// JSON.stringify cannot express: the property tests of every grammar send JSON this way.

/** A JSON number written exactly as `text` (e.g. "5.0", "1e5"). */
export class RawNumber {
  constructor(readonly text: string) {}
}

export type Json =
  | null
  | boolean
  | string
  | number
  | RawNumber
  | Json[]
  | { [key: string]: Json };

/** JSON text of a value, RawNumbers as written. */
export function jsonText(value: Json): string {
  if (value instanceof RawNumber) return value.text;
  if (Array.isArray(value)) return `[${value.map(jsonText).join(",")}]`;
  if (value !== null && typeof value === "object") {
    const members = Object.entries(value).map(([k, v]) => `${JSON.stringify(k)}:${jsonText(v)}`);
    return `{${members.join(",")}}`;
  }
  return JSON.stringify(value);
}
