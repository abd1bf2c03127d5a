// The grammar of one collected event (POST /functions/v1/collect), checked per event so a bad
// event is rejected alone. It mirrors analytics_events' constraints, so whatever passes here
// is inserted.
import { z } from "zod";

/** Serialized properties of one event may be at most this many bytes. */
export const MAX_PROPERTIES_BYTES = 32 * 1024;

const text = (max: number, example: string) =>
  z.string({ error: `must be a string (e.g. ${example})` })
    .max(max, `must be at most ${max} characters`)
    .regex(/\S/, "must not be blank");

// analytics_events/leads accept it: no spaces, one @, a dot in the domain.
const EMAIL = /^[^@\s]+@[^@\s]+\.[^@\s]+$/;
const TRAIT = text(200, '"Ada"').optional();

const encoder = new TextEncoder();

/** Bytes of `value` as JSON when they may be over `max` (a UTF-16 unit is at most 3 bytes). */
function bytesOver(value: unknown, max: number): number | null {
  const json = JSON.stringify(value);
  if (json.length * 3 <= max) return null;
  const size = encoder.encode(json).length;
  return size > max ? size : null;
}

// A JSON object: what JSON.parse gives is plain, so its keys are strings and need no
// per-key check (z.record's); one test an event instead of one per property.
const isObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === "object" && value !== null && !Array.isArray(value);

export const CollectedEvent = z.strictObject({
  type: z.enum(["track", "page", "identify"], {
    error: 'must be "track", "page" or "identify"',
  }),
  event: text(200, '"signup"').optional(),
  properties: z.custom<Record<string, unknown>>(isObject, {
    error: 'must be an object (e.g. {"plan": "pro"})',
  }).default({}).superRefine((value, ctx) => {
    const size = bytesOver(value, MAX_PROPERTIES_BYTES);
    if (size !== null) {
      ctx.addIssue({
        code: "custom",
        message: `are ${size} bytes as JSON; at most ${MAX_PROPERTIES_BYTES} per event`,
      });
    }
  }),
  anonymous_id: text(200, "the visitor's id").optional(),
  email: z.string({ error: "must be a string" }).max(
    320,
    "must be at most 320 characters",
  )
    .regex(EMAIL, "must be an email address like ada@example.com").optional(),
  lead_id: z.uuid({ error: "must be a lead's id (a UUID)" }).optional(),
  timestamp: z.iso.datetime({
    offset: true,
    error: "must be an ISO 8601 time with a zone (e.g. 2026-12-05T10:00:00Z)",
  }).optional(),
  message_id: text(200, "a UUID the sender draws per event").optional(),
}).superRefine((event, ctx) => {
  if (event.type === "track" && event.event === undefined) {
    ctx.addIssue({
      code: "custom",
      path: ["event"],
      message: "is required for a track event",
    });
  }
  if (event.type === "identify") {
    if (event.anonymous_id === undefined) {
      ctx.addIssue({
        code: "custom",
        path: ["anonymous_id"],
        message: "is required for an identify (it is the visitor being identified)",
      });
    }
    if (event.email === undefined && event.lead_id === undefined) {
      ctx.addIssue({
        code: "custom",
        path: ["email"],
        message: "or lead_id is required",
      });
    }
    for (const trait of ["first_name", "last_name", "company"]) {
      const problem = TRAIT.safeParse(event.properties[trait]);
      if (!problem.success) {
        ctx.addIssue({
          code: "custom",
          path: ["properties", trait],
          message: problem.error.issues[0].message,
        });
      }
    }
  }
});

export type CollectedEvent = z.output<typeof CollectedEvent>;

// Text Postgres cannot hold in jsonb, as JSON.stringify escapes it: a NUL character, or half
// of a UTF-16 surrogate pair (an escape not itself escaped by an odd run of backslashes).
const UNSTORABLE = /(?<!\\)(?:\\\\)*\\u(?:0000|d[89a-f][0-9a-f]{2})/i;

/**
 * One event as the JSON text collect_events is sent (serialized once, here, where it is also
 * checked for text Postgres cannot store), or the reason it is refused ("field: message; ...").
 */
export function parseEvent(
  value: unknown,
): { json: string } | { error: string } {
  const result = CollectedEvent.safeParse(value);
  if (result.success) {
    const json = JSON.stringify(result.data);
    if (UNSTORABLE.test(json)) {
      return {
        error: "event: contains text that cannot be stored: a NUL character (\\u0000) or " +
          "half of a UTF-16 surrogate pair",
      };
    }
    return { json };
  }
  return {
    error: result.error.issues
      .map((issue) => `${issue.path.map(String).join(".") || "event"}: ${issue.message}`)
      .join("; "),
  };
}
