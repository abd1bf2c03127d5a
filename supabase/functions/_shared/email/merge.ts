// Merge tags: `{{first_name}}`, `{{ first_name | there }}` (a fallback when the value is
// missing or blank), `{{last_name}}`, `{{email}}`, `{{data.company}}` and nested
// `{{data.address.city}}` from the recipient's merge data, and `{{unsubscribe_url}}`.
//
// A tag with no value and no fallback renders as nothing: a recipient never sees braces.
// Values are escaped for where they land (HTML-escaped in the HTML part, as-is in the text
// part and the subject); the fallback text is the author's own and is escaped the same way.

export type MergeRecipient = {
  email: string;
  first_name?: string | null;
  last_name?: string | null;
  /** Free-form merge fields, reached as `{{data.<key>}}`. */
  merge_data?: Record<string, unknown> | null;
};

/** Values the renderer supplies itself. */
export type MergeExtras = { unsubscribe_url?: string };

const TAG = /\{\{\s*([A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z0-9_-]+)*)\s*(?:\|([^{}]*))?\}\}/g;

function scalar(value: unknown): string | undefined {
  if (typeof value === "string") return value.trim() === "" ? undefined : value;
  if (typeof value === "number" && Number.isFinite(value)) return String(value);
  if (typeof value === "boolean") return String(value);
  return undefined;
}

/** The value of one tag for a recipient, or undefined when it has none. */
export function lookup(
  name: string,
  recipient: MergeRecipient,
  extras: MergeExtras = {},
): string | undefined {
  const [head, ...path] = name.split(".");
  if (path.length === 0) {
    switch (head) {
      case "first_name":
        return scalar(recipient.first_name);
      case "last_name":
        return scalar(recipient.last_name);
      case "email":
        return scalar(recipient.email);
      case "unsubscribe_url":
        return scalar(extras.unsubscribe_url);
      default:
        return undefined;
    }
  }
  if (head !== "data") return undefined;
  let value: unknown = recipient.merge_data ?? undefined;
  for (const key of path) {
    if (typeof value !== "object" || value === null || Array.isArray(value)) {
      return undefined;
    }
    value = Object.hasOwn(value, key) ? (value as Record<string, unknown>)[key] : undefined;
  }
  return scalar(value);
}

/** Replaces every merge tag in `template`; `escape` is applied to each inserted value. */
export function merge(
  template: string,
  recipient: MergeRecipient,
  escape: (value: string) => string = (value) => value,
  extras: MergeExtras = {},
): string {
  return template.replace(
    TAG,
    (_tag, name: string, fallback: string | undefined) => {
      const value = lookup(name, recipient, extras) ?? fallback?.trim() ?? "";
      return escape(value);
    },
  );
}
