// Generators for email_campaigns.recipient_list, the grammar checked by
// private.recipient_list_problem (migration email_recipient_list_check) and run by fan-out
// (private.resolve_email_recipients):
//
//   a recipient       "ada@example.com" | {"email", "first_name"?, "last_name"?, "data"?}
//   a lead selector   {"leads": {"ids"?, "tags"?, "statuses"?, "min_score"?}}
//   a list            {"list": <id of one of the owner's subscription lists>}
//   a segment         {"segment": <id of one of the owner's saved segments>}
//
// Lists are built as JSON text, so a number can be written the way a client may write it
// (5, 5.0, 5e0, -0): JSON.stringify would turn every one of them into 5. Every kind of entry
// and criterion is covered, with the edges of each (empty lists, the bounds of min_score,
// uuids in capitals, addresses in another case, duplicates, another owner's leads, lists and
// segments, ids of none), plus
// values a validator must refuse (2.5, 100001, "5"), so a property can hold on "whatever the
// database accepts". A new kind of entry or criterion gets its generator here.
import fc from "fast-check";
import { type Json, jsonText, RawNumber } from "./json_text.ts";

export { RawNumber };

/** The lead statuses (public.leads.status). */
export const LEAD_STATUSES = ["new", "qualified", "contacted", "converted", "lost"] as const;

/** A lead of the fixture the lists select from. */
export type FixtureLead = {
  id: string;
  email: string;
  tags: string[];
  status: string;
  score: number;
};

/** A subscription list or saved segment of the fixture: its id and the ids of the leads it selects. */
export type FixtureGroup = { id: string; members: string[] };

/** The owner's lists and segments, and another owner's (which an entry may not name). */
export type FixtureGroups = {
  lists: FixtureGroup[];
  segments: FixtureGroup[];
  strangers: FixtureGroup[];
};

export type Selector = {
  ids?: string[];
  tags?: unknown[];
  statuses?: string[];
  min_score?: RawNumber | string;
};

export type Entry =
  | string
  | {
    email: string;
    first_name?: string | null;
    last_name?: string | null;
    data?: Record<string, unknown>;
  }
  | { leads: Selector }
  | { list: string }
  | { segment: string };

/** The list's JSON text, numbers as written. */
export function recipientListText(list: Entry[]): string {
  return jsonText(list as unknown as Json);
}

/** A whole number in min_score's range, written in each way JSON allows. */
const wholeScore = fc.oneof(
  fc.constantFrom(-100000, -1, 0, 1, 100000),
  fc.integer({ min: -100000, max: 100000 }),
).chain((n) =>
  fc.constantFrom(
    new RawNumber(String(n)),
    new RawNumber(`${n}.0`),
    new RawNumber(`${n}e0`),
    new RawNumber(n === 0 ? "-0" : `${n}.000`),
    new RawNumber(n % 10 === 0 && n !== 0 ? `${n / 10}E1` : String(n)),
  )
);

/** What a client might send for min_score that the validator must refuse. */
const badScore = fc.constantFrom<RawNumber | string>(
  new RawNumber("2.5"),
  new RawNumber("100001"),
  new RawNumber("-100001"),
  new RawNumber("1e10"),
  "5",
);

function selector(leads: FixtureLead[], strangers: FixtureLead[]): fc.Arbitrary<Entry> {
  const id = fc.oneof(
    fc.constantFrom(...leads.map((l) => l.id)),
    fc.constantFrom(...leads.map((l) => l.id.toUpperCase())),
    fc.constantFrom(...strangers.map((l) => l.id)),
    fc.uuid(),
  );
  const tag = fc.oneof(
    fc.constantFrom(...new Set(leads.flatMap((l) => l.tags))),
    fc.constantFrom("unused", "VIP", ""),
  );
  return fc.record({
    ids: fc.uniqueArray(id, { maxLength: 4 }),
    tags: fc.uniqueArray(tag, { maxLength: 3 }),
    statuses: fc.uniqueArray(fc.constantFrom(...LEAD_STATUSES), { maxLength: 3 }),
    min_score: fc.oneof({ weight: 5, arbitrary: wholeScore }, { weight: 1, arbitrary: badScore }),
  }, { requiredKeys: [] }).map((leadsSelector) => ({ leads: leadsSelector }));
}

function recipient(leads: FixtureLead[], strangers: FixtureLead[]): fc.Arbitrary<Entry> {
  const address = fc.oneof(
    fc.constantFrom(...leads.map((l) => l.email)),
    fc.constantFrom(...leads.map((l) => l.email.toUpperCase())),
    fc.constantFrom(...strangers.map((l) => l.email)),
    fc.constantFrom("extra@example.test", "Extra@Example.Test", "other.person@example.org"),
  );
  const name = fc.option(fc.constantFrom("Ada", "Grace", "Émile", "李"), { nil: null });
  return fc.oneof(
    address,
    fc.record({
      email: address,
      first_name: name,
      last_name: name,
      data: fc.dictionary(fc.constantFrom("plan", "city"), fc.constantFrom("pro", "Paris", 3)),
    }, { requiredKeys: ["email"] }),
  );
}

/** {"list": id} or {"segment": id}: mostly the owner's (some in capitals), some not. */
function groupEntry(groups: FixtureGroups): fc.Arbitrary<Entry> {
  const id = (own: FixtureGroup[]) =>
    fc.oneof(
      { weight: 4, arbitrary: fc.constantFrom(...own.map((g) => g.id)) },
      { weight: 1, arbitrary: fc.constantFrom(...own.map((g) => g.id.toUpperCase())) },
      { weight: 1, arbitrary: fc.constantFrom(...groups.strangers.map((g) => g.id)) },
      { weight: 1, arbitrary: fc.uuid() },
    );
  return fc.oneof(
    id(groups.lists).map((list) => ({ list })),
    id(groups.segments).map((segment) => ({ segment })),
  );
}

/**
 * A recipient list over `leads` (the owner's), `strangers` (another owner's leads) and
 * `groups` (lists and segments).
 */
export function recipientList(
  leads: FixtureLead[],
  strangers: FixtureLead[],
  groups: FixtureGroups,
): fc.Arbitrary<Entry[]> {
  return fc.array(
    fc.oneof(recipient(leads, strangers), selector(leads, strangers), groupEntry(groups)),
    { maxLength: 6 },
  );
}

/** The owner's list or segment a {"list"} or {"segment"} entry names, if it is one of theirs. */
function namedGroup(entry: Entry, groups: FixtureGroups): FixtureGroup | undefined {
  if (typeof entry !== "object") return undefined;
  const [own, id] = "list" in entry
    ? [groups.lists, entry.list]
    : "segment" in entry
    ? [groups.segments, entry.segment]
    : [[], undefined];
  return own.find((g) => g.id === id?.toLowerCase());
}

/** Whether the list names a list or segment that is not one of the owner's (refused on save). */
export function namesForeignGroup(list: Entry[], groups: FixtureGroups): boolean {
  return list.some((entry) =>
    typeof entry === "object" && ("list" in entry || "segment" in entry) &&
    namedGroup(entry, groups) === undefined
  );
}

/** The JSON number a selector's min_score stands for, or undefined if it is not a whole one. */
function wholeNumber(value: RawNumber | string | undefined): number | undefined {
  if (!(value instanceof RawNumber)) return undefined;
  const n = Number(value.text);
  return Number.isInteger(n) ? n : undefined;
}

/**
 * The plain evaluation of a list: lower(email) → the owner's lead id for that address (or
 * null). Explicit entries, plus every owner's lead a selector matches (criteria AND, tags:
 * any of them, entries OR) or a named list or segment holds.
 */
export function expectedRecipients(
  list: Entry[],
  leads: FixtureLead[],
  groups: FixtureGroups,
): Map<string, string | null> {
  const byAddress = new Map(leads.map((l) => [l.email.toLowerCase(), l]));
  const result = new Map<string, string | null>();
  for (const entry of list) {
    if (typeof entry === "string" || "email" in entry) {
      const address = (typeof entry === "string" ? entry : entry.email).trim().toLowerCase();
      result.set(address, byAddress.get(address)?.id ?? null);
    }
  }
  for (const entry of list) {
    for (const id of namedGroup(entry, groups)?.members ?? []) {
      const lead = leads.find((l) => l.id === id)!;
      result.set(lead.email.toLowerCase(), lead.id);
    }
  }
  for (const entry of list) {
    if (typeof entry === "string" || !("leads" in entry)) continue;
    const s = entry.leads;
    const minScore = wholeNumber(s.min_score);
    for (const lead of leads) {
      if (s.ids && !s.ids.some((id) => id.toLowerCase() === lead.id)) continue;
      if (s.tags && !s.tags.some((t) => lead.tags.includes(t as string))) continue;
      if (s.statuses && !s.statuses.includes(lead.status)) continue;
      if (minScore !== undefined && lead.score < minScore) continue;
      result.set(lead.email.toLowerCase(), lead.id);
    }
  }
  return result;
}
