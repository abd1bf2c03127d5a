// fast-check generators for the workflow config grammar (see the comment at the top of
// supabase/migrations/20261125141200_workflow_config.sql, and workflow_conditions for lead
// conditions): a trigger of every type, lead conditions, and steps of every type, with the
// edge values users write: whole numbers as 5, 5.0 or 5e0 and at their bounds, unicode tags,
// keys and text, sizes at their limits, and some values just past them (which the database
// must refuse with a clear message). A new trigger or step type needs its generator here.
import fc from "fast-check";
import { type Json, jsonText, RawNumber } from "./json_text.ts";

export { type Json, jsonText };

/** In a generated send_email step, stands for the id of one of the owner's content items. */
export const CONTENT_ID = "00000000-0000-4000-8000-00000000c0de";
/**
 * In a generated segment trigger, stands for the id of one of the owner's segments (in
 * capitals, for the same id in capitals).
 */
export const SEGMENT_ID = "00000000-0000-4000-8000-00000005e6ed";

const STATUSES = ["new", "qualified", "contacted", "converted", "lost"] as const;
const LEAD_FIELDS = [
  "email",
  "first_name",
  "last_name",
  "company",
  "phone",
  "score",
  "status",
  "source",
  "tags",
  "custom_fields",
] as const;

/** A whole number from min to max, often a bound or near 0, written as 5, 5.0 or 5e0. */
export function wholeNumber(min: number, max: number): fc.Arbitrary<RawNumber> {
  const near = [min, max, 0, 1, -1, 5, 10].filter((n) => n >= min && n <= max);
  return fc.tuple(
    fc.oneof(fc.constantFrom(...near), fc.integer({ min, max })),
    fc.constantFrom("plain", "point", "exponent"),
  ).map(([n, form]) =>
    new RawNumber(form === "plain" ? String(n) : form === "point" ? `${n}.0` : `${n}e0`)
  );
}

/** Text of min to max graphemes, any script (no NUL, which Postgres text cannot hold). */
export function text(minLength: number, maxLength: number): fc.Arbitrary<string> {
  return fc.string({ unit: "grapheme", minLength, maxLength })
    .map((s) => s.replaceAll("\u0000", ""));
}

/** Tags: a small shared pool (so leads and workflows meet), any unicode, or 100 characters. */
export const tag: fc.Arbitrary<string> = fc.oneof(
  { weight: 4, arbitrary: fc.constantFrom("vip", "hot", "b2b", "café", "🚀 launch", "顧客") },
  { weight: 2, arbitrary: text(1, 20) },
  { weight: 1, arbitrary: fc.constant("t".repeat(100)) },
);

/** Custom field names: a shared pool, or any unicode. */
export const fieldKey: fc.Arbitrary<string> = fc.oneof(
  { weight: 4, arbitrary: fc.constantFrom("plan", "seats", "signup", "région") },
  { weight: 1, arbitrary: text(1, 30) },
);

/** A JSON scalar, including whole numbers written as floats. */
export const scalar: fc.Arbitrary<Json> = fc.oneof(
  fc.constantFrom<Json>("pro", "enterprise", "2024-01-01", "120", true, false, null),
  wholeNumber(-1000, 1000),
  fc.double({ noNaN: true, noDefaultInfinity: true, min: -1e6, max: 1e6 }),
  text(0, 20),
);

/** A custom field comparison {"key", "op", "value"} (see lead_predicates). */
export const comparison: fc.Arbitrary<Json> = fc.oneof(
  fc.record({ key: fieldKey, op: fc.constantFrom("exists", "not_exists") }),
  fc.record({ key: fieldKey, op: fc.constantFrom("eq", "neq"), value: scalar }),
  fc.record({
    key: fieldKey,
    op: fc.constant("in"),
    value: fc.array(scalar, { minLength: 1, maxLength: 4 }),
  }),
  fc.record({
    key: fieldKey,
    op: fc.constantFrom("gt", "gte", "lt", "lte"),
    value: fc.oneof(wholeNumber(-1000, 1000), fc.constantFrom<Json>("100", "2024-06-01", "m")),
  }),
  fc.record({
    key: fieldKey,
    op: fc.constant("contains"),
    value: fc.oneof(text(1, 10), wholeNumber(0, 100), fc.boolean()),
  }),
);

const tagList = fc.uniqueArray(tag, { minLength: 1, maxLength: 3 });

/** Lead conditions (workflow_conditions): every key optional; often one broad key, so leads meet them. */
const someConditions: fc.Arbitrary<Json> = fc.record({
  statuses: fc.uniqueArray(fc.constantFrom(...STATUSES), { minLength: 1, maxLength: 5 }),
  min_score: fc.oneof(wholeNumber(-100000, 100000), wholeNumber(-20, 20)),
  max_score: fc.oneof(wholeNumber(-100000, 100000), wholeNumber(0, 200)),
  tags: fc.record({ any: tagList, all: tagList, none: tagList }, { requiredKeys: [] })
    .filter((tags) => Object.keys(tags).length > 0),
  custom_fields: fc.array(comparison, { minLength: 1, maxLength: 3 }),
}, { requiredKeys: [] });
export const conditions: fc.Arbitrary<Json> = fc.oneof(
  fc.constantFrom<Json>(
    { statuses: [...STATUSES] },
    { min_score: new RawNumber("-100000.0") },
    { max_score: new RawNumber("1e5") },
    { tags: { none: ["never"] } },
    {},
  ),
  someConditions,
);

const statusOrList: fc.Arbitrary<Json> = fc.oneof(
  fc.constantFrom(...STATUSES),
  fc.uniqueArray(fc.constantFrom(...STATUSES), { minLength: 1, maxLength: 3 }),
);

/** Cron expressions: mostly every 5 minutes or rarer (allowed), some more often (refused). */
export const cron: fc.Arbitrary<string> = fc.oneof(
  { weight: 1, arbitrary: fc.constantFrom("@hourly", "@daily", "@weekly", "@monthly") },
  {
    weight: 4,
    arbitrary: fc.tuple(
      fc.constantFrom("0", "*/5", "*/15", "0,30", "7", "*/10", "55", "*/2", "*", "0-4"),
      fc.constantFrom("*", "9", "9-17", "*/2", "0,12", "23"),
      fc.constantFrom("*", "1", "15", "31"),
      fc.constantFrom("*", "*", "jan", "1-6"),
      fc.constantFrom("*", "mon-fri", "0", "sun", "1-5", "7"),
    ).map((fields) => fields.join(" ")),
  },
);

const withConditions = <T extends Record<string, Json>>(arbitrary: fc.Arbitrary<T>) =>
  fc.tuple(arbitrary, fc.oneof(fc.constant(undefined), fc.constant(undefined), conditions)).map((
    [trigger, given],
  ) => given === undefined ? trigger : { ...trigger, conditions: given });

/** A trigger_config of every type. */
export const trigger: fc.Arbitrary<Json> = fc.oneof(
  withConditions(fc.constant({ type: "lead_created" })),
  withConditions(fc.record({
    type: fc.constant("lead_updated"),
    fields: fc.uniqueArray(
      fc.oneof(fc.constantFrom(...LEAD_FIELDS), fieldKey.map((key) => `custom_fields.${key}`)),
      { minLength: 1, maxLength: 4 },
    ),
  })),
  withConditions(
    fc.record({ type: fc.constant("lead_status_changed"), from: statusOrList, to: statusOrList }, {
      requiredKeys: ["type"],
    }),
  ),
  withConditions(fc.record({
    type: fc.constant("lead_score_reached"),
    score: fc.oneof(wholeNumber(-100000, 100000), wholeNumber(-5, 30)),
  })),
  withConditions(fc.record({ type: fc.constant("tag_added"), tag }, { requiredKeys: ["type"] })),
  withConditions(
    fc.record({
      type: fc.constant("event"),
      event_type: fc.oneof(fc.constant("page"), text(1, 20)),
      event_name: fc.oneof(fc.constant("pricing"), text(1, 20)),
      properties: fc.oneof(
        fc.constant<Json>({ plan: "pro" }),
        fc.dictionary(fieldKey, scalar, { maxKeys: 2 }),
      ),
    }, { requiredKeys: ["type"] }).filter((t) => "event_type" in t || "event_name" in t),
  ),
  withConditions(fc.oneof(
    fc.record({
      type: fc.constant("email_event"),
      event: fc.constantFrom("opened", "clicked"),
      human_only: fc.boolean(),
    }, { requiredKeys: ["type", "event"] }),
    fc.record({
      type: fc.constant("email_event"),
      event: fc.constantFrom("bounced", "unsubscribed"),
    }),
  )),
  withConditions(fc.record({
    type: fc.constant("schedule"),
    cron,
    timezone: fc.constantFrom(
      "UTC",
      "Europe/Paris",
      "Asia/Tokyo",
      "Asia/Kathmandu",
      "America/St_Johns",
    ),
  }, { requiredKeys: ["type", "cron"] })),
  withConditions(fc.constant({ type: "manual" })),
  withConditions(fc.record({
    type: fc.constantFrom("segment_entered", "segment_exited"),
    segment_id: fc.oneof(
      { weight: 6, arbitrary: fc.constantFrom<Json>(SEGMENT_ID, SEGMENT_ID.toUpperCase()) },
      { weight: 1, arbitrary: fc.uuid() as fc.Arbitrary<Json> },
      { weight: 1, arbitrary: fc.constantFrom<Json>(7, null, "segment") },
    ),
  })),
);

const email = fc.constantFrom("news@beacon.example", "ünïcode@example.com", "a@b.co");

/** A step of every type. */
export const step: fc.Arbitrary<Json> = fc.oneof(
  fc.record({ type: fc.constant("set_status"), status: fc.constantFrom(...STATUSES) }),
  fc.record({ type: fc.constantFrom("add_tag", "remove_tag"), tag }),
  fc.record({
    type: fc.constant("set_field"),
    key: fieldKey,
    value: fc.oneof(
      scalar,
      fc.array(scalar, { maxLength: 3 }),
      fc.dictionary(fieldKey, scalar, { maxKeys: 2 }),
    ),
  }),
  fc.record({
    type: fc.constant("adjust_score"),
    points: fc.oneof(wholeNumber(-1000, 1000), wholeNumber(1000, 1000), wholeNumber(-1000, -1000)),
  }),
  fc.oneof(
    fc.record({
      type: fc.constant("wait"),
      duration: fc.constantFrom("1 second", "PT6H", "2 days", "365 days", "1 mon", "P1Y"),
    }),
    fc.record({
      type: fc.constant("wait"),
      until: fc.constantFrom(
        "2030-01-01T09:00:00Z",
        "2031-06-15 12:00:00+02",
        "2099-12-31T23:59:59Z",
      ),
    }),
  ),
  fc.record({
    type: fc.constant("condition"),
    conditions,
    otherwise: fc.constantFrom("stop", "skip"),
  }, { requiredKeys: ["type", "conditions"] }),
  fc.oneof(
    fc.record({
      type: fc.constant("send_email"),
      subject: text(1, 40),
      body: text(0, 200),
      from_email: email,
      from_name: fc.oneof(fc.constant("Beacon Team"), text(1, 30)),
      reply_to: email,
    }, { requiredKeys: ["type", "subject", "body"] }),
    fc.record({
      type: fc.constant("send_email"),
      content_id: fc.constant(CONTENT_ID),
      subject: text(1, 40),
    }, { requiredKeys: ["type", "content_id"] }),
  ),
  fc.record({
    type: fc.constant("webhook"),
    url: fc.oneof(
      fc.constant("https://hooks.example.com/in"),
      text(1, 20).map((path) => `https://hooks.example.com/${encodeURIComponent(path)}`),
    ),
    secret_name: fc.constantFrom("WEBHOOK_SIGNING_SECRET", "CRM_HOOK_KEY"),
    payload: fc.dictionary(fieldKey, scalar, { maxKeys: 3 }),
    headers: fc.dictionary(fc.constantFrom("X-Team", "X-Source"), text(0, 20), { maxKeys: 2 }),
  }, { requiredKeys: ["type", "url"] }),
);

/** A workflow: its trigger_config and action_config. */
export const workflow: fc.Arbitrary<{ trigger: Json; steps: Json[] }> = fc.record({
  trigger,
  steps: fc.array(step, { minLength: 1, maxLength: 5 }),
});

/** Leads for the workflows to meet: statuses, tags and custom fields from the same pools. */
export const lead = fc.record({
  status: fc.constantFrom(...STATUSES),
  tags: fc.uniqueArray(tag, { maxLength: 3 }),
  custom_fields: fc.dictionary(fieldKey, scalar, { maxKeys: 3 }),
  company: fc.option(text(1, 20), { nil: null }),
});
