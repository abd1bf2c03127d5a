// fast-check generators for the one lead grammar (lead conditions, segment predicates, segment
// recipients; supabase/migrations/20261206150000_lead_predicate_activity.sql): the workflow
// conditions of workflow_config_arbitraries.ts plus activity (events, emails), with windows at
// their bounds, written as 5, 5.0 or 5e0, and some values past them (which the validator must
// refuse). Random leads, events and email deliveries share the generators' pools so
// predicates meet them.
import fc from "fast-check";
import { type Json, jsonText } from "./json_text.ts";
import { conditions, fieldKey, scalar, tag, wholeNumber } from "./workflow_config_arbitraries.ts";

export { type Json, jsonText };

export const STATUSES = ["new", "qualified", "contacted", "converted", "lost"] as const;
export const EVENT_NAMES = ["signup", "pricing", "démo"] as const;
export const EMAIL_ACTIONS = ["opened", "clicked", "bounced"] as const;

const absent = fc.option(fc.boolean(), { nil: undefined });
const window = fc.oneof(wholeNumber(1, 3650), wholeNumber(1, 60), wholeNumber(0, 4000));

/** An activity in "events": type and/or name from the pools, properties from the field pool. */
export const eventActivity: fc.Arbitrary<Json> = fc.record({
  event_type: fc.constantFrom("track", "page"),
  event_name: fc.constantFrom(...EVENT_NAMES),
  properties: fc.dictionary(fieldKey, scalar, { maxKeys: 1 }),
  within_days: window,
  absent,
}, { requiredKeys: ["within_days"] })
  .map((a) => Object.fromEntries(Object.entries(a).filter(([, v]) => v !== undefined)) as Json);

/** An activity in "emails". */
export const emailActivity: fc.Arbitrary<Json> = fc.record({
  action: fc.constantFrom(...EMAIL_ACTIONS),
  within_days: window,
  absent,
}, { requiredKeys: ["action", "within_days"] })
  .map((a) => Object.fromEntries(Object.entries(a).filter(([, v]) => v !== undefined)) as Json);

/** A predicate: workflow conditions, with activity lists added now and then. */
export const predicate: fc.Arbitrary<Json> = fc.tuple(
  conditions,
  fc.option(fc.array(eventActivity, { minLength: 1, maxLength: 3 }), { nil: undefined }),
  fc.option(fc.array(emailActivity, { minLength: 1, maxLength: 3 }), { nil: undefined }),
).map(([c, events, emails]) => ({
  ...(c as Record<string, Json>),
  ...(events ? { events } : {}),
  ...(emails ? { emails } : {}),
}));

/** A lead of the fixture, from the same pools. */
export const lead = fc.record({
  status: fc.constantFrom(...STATUSES),
  score: fc.integer({ min: -50, max: 50 }),
  tags: fc.uniqueArray(tag, { maxLength: 3 }),
  custom_fields: fc.dictionary(fieldKey, scalar, { maxKeys: 3 }),
});

/** An event about the n-th lead (by its id, its email in any case, or no one), days ago. */
export const event = fc.record({
  lead: fc.nat(),
  by: fc.constantFrom("lead_id", "email", "nobody"),
  event_type: fc.constantFrom("track", "page"),
  event_name: fc.constantFrom(...EVENT_NAMES),
  properties: fc.dictionary(fieldKey, scalar, { maxKeys: 2 }),
  days_ago: fc.integer({ min: 0, max: 4000 }),
});

/** An email delivery to the n-th lead, with what happened to it, days ago. */
export const delivery = fc.record({
  lead: fc.nat(),
  opened_days_ago: fc.option(fc.integer({ min: 0, max: 90 }), { nil: null }),
  clicked_days_ago: fc.option(fc.integer({ min: 0, max: 90 }), { nil: null }),
  bounced_days_ago: fc.option(fc.integer({ min: 0, max: 90 }), { nil: null }),
});
