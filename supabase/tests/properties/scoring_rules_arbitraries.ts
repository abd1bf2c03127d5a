// Generators for the lead scoring grammar: scoring rules of every condition kind (see
// private.scoring_rule_problem in the scoring_rules migrations and the comparisons of
// lead_predicates), scoring_settings, leads for them to score and analytics events for the
// engagement rules. Most values are valid; some are at or just past an edge (5.0 written as
// such, 1001 points, an unbalanced pattern), so that both sides of each check are exercised.
// A new condition kind gets its generator here, next to the others, and joins `condition`.
//
// JSON is built as text (jsonText) so that numbers keep the spelling they were generated
// with: JavaScript reads 5.0 as 5, but "5.0" in the JSON is exactly the case that matters.
import fc from "fast-check";
import { type Json, jsonText, RawNumber } from "./json_text.ts";

export { type Json, jsonText, RawNumber };

// Postgres text holds no NUL character; everything else of Unicode is fair game.
const noNul = (s: string) => !s.includes("\u0000");

/** Short text: often from a small shared pool (so rules and leads meet), else any Unicode. */
const pooled = (pool: string[], maxLength = 30) =>
  fc.oneof(
    { weight: 3, arbitrary: fc.constantFrom(...pool) },
    {
      weight: 1,
      arbitrary: fc.string({ unit: "grapheme", minLength: 1, maxLength }).filter(noNul),
    },
  );

export const tags = ["vip", "b2b", "churned", "éclair", "🚀", "VIP"];
export const sources = ["webinar", "ads", "Webinar", "référence", "🎙️ podcast"];
export const companies = ["Acme Inc", "Cy Ltd.", "Ünïcode GmbH", "株式会社テスト", "(parens) & co"];
export const customKeys = ["plan", "employees", "role", "trial", "industry", "ключ"];
export const domains = [
  "acme.com",
  "example.org",
  "gmail.com",
  "outlook.com",
  "xn--bcher-kva.example",
];
export const eventTypes = ["email", "visit", "webinar", "événement"];
export const eventNames = ["email_clicked", "pricing", "home", "📈"];

/** A whole number in JSON, written in one of its spellings, or a near miss. */
export const jsonNumber = (min: number, max: number) =>
  fc.oneof(
    { weight: 4, arbitrary: fc.integer({ min, max }).map((n) => new RawNumber(String(n))) },
    {
      weight: 2,
      arbitrary: fc.constantFrom(min, max, Math.trunc((min + max) / 2)).chain((n) =>
        fc.constantFrom(`${n}`, `${n}.0`, `${n}.000`, `${n}e0`, n === 0 ? "-0" : `${n / 10}e1`)
      ).map((text) => new RawNumber(text)),
    },
    {
      weight: 1,
      arbitrary: fc.constantFrom("2.5", "0.5", `${max + 1}`, `${min - 1}`, "1e308", "-1e308")
        .map((text) => new RawNumber(text)),
    },
  );

/** Any JSON value a custom field may hold or be compared with. */
export const jsonValue: fc.Arbitrary<Json> = fc.letrec<{ value: Json }>((tie) => ({
  value: fc.oneof(
    { depthSize: "small", withCrossShrink: true },
    fc.constant(null),
    fc.boolean(),
    pooled(["pro", "team", "free", "CTO", "Software", "120", " 42 ", "1.5", "2026-01-01"]),
    jsonNumber(-1000, 1000),
    fc.constantFrom("5.0", "1e3", "-0.25", "123456789012345678901234567890", "1e-30")
      .map((t) => new RawNumber(t)),
    fc.array(tie("value"), { maxLength: 3 }),
    fc.dictionary(pooled(customKeys, 10), tie("value"), { maxKeys: 2 }),
  ),
})).value;

const presentFields = ["first_name", "last_name", "company", "phone", "source"];
const textFields = ["email", ...presentFields];
const ops = ["eq", "neq", "in", "gt", "gte", "lt", "lte", "contains", "exists", "not_exists"];

/** Regular expressions: usual ones, odd but valid ones, and some that do not compile. */
export const pattern = fc.oneof(
  fc.constantFrom(
    "(inc|ltd)\\.?$",
    "^(ceo|cto|vp)",
    "[[:alpha:]]+\\s[[:digit:]]",
    "\\mAcme\\M",
    "(a+)+$",
    "^.{0,200}$",
    "a{1,255}",
    "(?x) a c m e # a comment",
    "***=(literal",
    "ü|é|🚀",
    "((((((((((x))))))))))",
    "(", // unbalanced: refused
    "a{0,256}", // a bound past 255: refused
    "[z-a]", // an inverted range: refused
  ),
  fc.string({ unit: "grapheme", minLength: 1, maxLength: 20 }).filter(noNul),
);

const fieldPresent = fc.record({
  type: fc.constant("field_present"),
  field: fc.constantFrom(...presentFields, "email"), // email: refused (it is always present)
});

const fieldEquals = fc.record({
  type: fc.constant("field_equals"),
  field: fc.constantFrom(...textFields),
  value: pooled([...sources, ...companies, "acme.com"], 320),
});

const fieldMatches = fc.record({
  type: fc.constant("field_matches"),
  field: fc.constantFrom(...textFields),
  pattern,
});

const emailDomain = fc.oneof(
  fc.record({ type: fc.constant("email_domain"), free_mail: fc.boolean() }),
  fc.record({
    type: fc.constant("email_domain"),
    domains: fc.array(pooled(domains, 20), { minLength: 1, maxLength: 4 }),
  }),
);

const tagPresent = fc.record({ type: fc.constant("tag_present"), tag: pooled(tags, 100) });

const customField = fc.record(
  {
    type: fc.constant("custom_field"),
    key: pooled(customKeys, 100),
    op: fc.constantFrom(...ops),
    value: jsonValue,
  },
  { requiredKeys: ["type", "key", "op"] },
);

// An event rule: a filter (event_type and/or event_name, at least one; properties) and
// mostly either no cap or a cap with its period (a cap alone, or the period "year": refused).
const event = fc.tuple(
  fc.record(
    {
      type: fc.constant("event"),
      event_type: fc.constantFrom(...eventTypes),
      event_name: fc.constantFrom(...eventNames),
      properties: fc.dictionary(fc.constantFrom("plan", "machine", "page"), jsonValue, {
        maxKeys: 1,
      }),
    },
    { requiredKeys: ["type"] },
  ),
  fc.oneof(
    { weight: 3, arbitrary: fc.constant({}) },
    {
      weight: 3,
      arbitrary: fc.record({
        cap: jsonNumber(1, 100000),
        period: fc.constantFrom("day", "week", "month"),
      }),
    },
    {
      weight: 1,
      arbitrary: fc.record({ cap: jsonNumber(1, 100000), period: fc.constant("year") }, {
        requiredKeys: ["cap"],
      }),
    },
  ),
).map(([filter, cap]) => ({ ...filter, ...cap }));

/** A rule's condition, of every kind the validator knows (and some it does not). */
export const condition: fc.Arbitrary<Json> = fc.oneof(
  { weight: 1, arbitrary: fieldPresent },
  { weight: 1, arbitrary: fieldEquals },
  { weight: 1, arbitrary: fieldMatches },
  { weight: 1, arbitrary: emailDomain },
  { weight: 1, arbitrary: tagPresent },
  { weight: 1, arbitrary: customField },
  { weight: 2, arbitrary: event },
  { weight: 1, arbitrary: fc.record({ type: fc.constantFrom("score_above", "") }) }, // unknown: refused
) as fc.Arbitrary<Json>;

export type Rule = { name: string; condition: string; points: number; is_active: boolean };

/** A scoring rule as an app would write it. */
export const rule: fc.Arbitrary<Rule> = fc.record({
  name: pooled(["visits", "has company", "ünïcode ✓", "  "], 200),
  condition: condition.map(jsonText),
  points: fc.oneof(
    fc.integer({ min: -1000, max: 1000 }),
    fc.constantFrom(-1000, 1000, 0, 1001, -1001),
  ),
  is_active: fc.oneof({ weight: 4, arbitrary: fc.constant(true) }, {
    weight: 1,
    arbitrary: fc.constant(false),
  }),
});

export type Settings = {
  qualification_threshold: number | null;
  engagement_half_life_days: number | null;
};

/** scoring_settings: threshold and half-life, at and past their bounds. */
export const settings: fc.Arbitrary<Settings> = fc.record({
  qualification_threshold: fc.oneof(
    fc.constant(null),
    fc.integer({ min: -100000, max: 100000 }),
    fc.constantFrom(-100000, 100000, 0, 100001),
  ),
  engagement_half_life_days: fc.oneof(
    fc.constant(null),
    fc.integer({ min: 1, max: 3650 }),
    fc.constantFrom(1, 3650, 0),
  ),
});

export type Lead = {
  email: string;
  first_name: string | null;
  last_name: string | null;
  company: string | null;
  phone: string | null;
  source: string | null;
  tags: string[];
  custom_fields: string;
};

const optional = <T>(arbitrary: fc.Arbitrary<T>) => fc.option(arbitrary, { nil: null });
const name = pooled(["Ada", "Ünal", "李", "O'Brien"], 200).filter((s) => /\S/.test(s));

/** A valid lead (the leads table's own checks are not under test); emails made unique by n. */
export const lead = (n: number): fc.Arbitrary<Lead> =>
  fc.record({
    email: fc.tuple(fc.constantFrom("ceo", "ana", "ünï"), fc.constantFrom(...domains))
      .map(([local, domain]) => `${local}.${n}@${domain}`),
    first_name: optional(name),
    last_name: optional(name),
    company: optional(pooled(companies, 200).filter((s) => /\S/.test(s))),
    phone: optional(fc.constantFrom("+1 555 0100", "(030) 1234-56")),
    source: optional(pooled(sources, 200)),
    tags: fc.uniqueArray(pooled(tags, 30), { maxLength: 4 }),
    custom_fields: fc.dictionary(pooled(customKeys, 20), jsonValue, { maxKeys: 4 }).map(jsonText),
  });

export type Visit = {
  event_type: string;
  event_name: string;
  properties: string;
  times: number;
  follows: number | null;
};

/**
 * Analytics events about a lead: which kind, how many (sometimes enough to reach a bound);
 * `follows` (when not null) picks one of the owner's event rules whose filter the events
 * take, so that they earn its points.
 */
export const visit: fc.Arbitrary<Visit> = fc.record({
  follows: fc.option(fc.nat(), { nil: null, freq: 4 }),
  event_type: fc.constantFrom(...eventTypes),
  event_name: fc.constantFrom(...eventNames),
  properties: fc.dictionary(fc.constantFrom("plan", "machine", "page"), jsonValue, { maxKeys: 2 })
    .map(jsonText),
  times: fc.oneof({ weight: 5, arbitrary: fc.integer({ min: 1, max: 5 }) }, {
    weight: 1,
    arbitrary: fc.integer({ min: 100, max: 150 }),
  }),
});

export type Surge = { points: number; times: number };

/**
 * A burst of events worth the most a rule may give, enough to push a lead to a bound of its
 * score (-100000 or 100000) before its rules and fields change again.
 */
export const surge: fc.Arbitrary<Surge> = fc.record({
  points: fc.constantFrom(1000, -1000),
  times: fc.integer({ min: 101, max: 150 }),
});
