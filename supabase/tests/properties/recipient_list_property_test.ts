// Property: every recipient list the database accepts fans out without an error and yields
// exactly the recipients a plain evaluation of the list selects (each address once, linked to
// the owner's lead of that address), never another owner's leads. And the validator accepts
// exactly the lists whose values the runtime can read (min_score 5.0 yes, 2.5 no) and whose
// {"list"} and {"segment"} entries name the owner's own.
//
// Runs against the real local Postgres, in one transaction that is rolled back (each run in a
// savepoint of its own), through the real trigger path: insert (the validator), then
// scheduled → sending (fan-out).
import assert from "node:assert/strict";
import fc from "fast-check";
import type { Tx } from "../../functions/_shared/db.ts";
import { asService } from "../../functions/_shared/db.ts";
import { dbTest } from "../../functions/_testing/harness.ts";
import {
  type Entry,
  expectedRecipients,
  type FixtureGroup,
  type FixtureGroups,
  type FixtureLead,
  LEAD_STATUSES,
  namesForeignGroup,
  RawNumber,
  recipientList,
  recipientListText,
} from "./recipient_list_arbitraries.ts";

class Rollback extends Error {}

async function fixtureLeads(
  tx: Tx,
  owner: string,
  prefix: string,
  n: number,
): Promise<FixtureLead[]> {
  const scores = [-100000, -5, 0, 1, 5, 10, 42, 99999, 100000, -1];
  const tagPool = [["vip"], ["beta", "vip"], [], ["new"], ["beta"]];
  const wanted = Array.from({ length: n }, (_, i) => ({
    email: `${prefix}${i}@Example.test`,
    tags: tagPool[i % tagPool.length],
    status: LEAD_STATUSES[i % LEAD_STATUSES.length],
    score: scores[i % scores.length],
  }));
  const leads: FixtureLead[] = [];
  await tx`select set_config('beacon.trusted_score_write', 'on', true)`;
  for (const lead of wanted) {
    const [row] = await tx`
      insert into public.leads (user_id, email, tags, status) values (${owner}, ${lead.email}, ${lead.tags}, ${lead.status})
      returning id`;
    await tx`update public.leads set score = ${lead.score} where id = ${row.id}`;
    leads.push({ id: row.id, ...lead });
  }
  await tx`select set_config('beacon.trusted_score_write', '', true)`;
  return leads;
}

/**
 * The owner's lists (one whose third member left it, one empty) and segments (a predicate
 * each, with the leads it selects evaluated here), and another owner's list and segment.
 */
async function fixtureGroups(
  tx: Tx,
  owner: string,
  stranger: string,
  leads: FixtureLead[],
): Promise<FixtureGroups> {
  const list = async (user: string, members: FixtureLead[], left: FixtureLead[] = []) => {
    const [{ id }] = await tx`
      insert into public.lists (user_id, name) values (${user}, ${
      "list " + crypto.randomUUID()
    }) returning id`;
    for (const lead of [...members, ...left]) {
      await tx`insert into public.list_memberships (user_id, list_id, lead_id, unsubscribed_at)
               values (${user}, ${id}, ${lead.id}, ${left.includes(lead) ? new Date() : null})`;
    }
    return { id, members: members.map((l) => l.id) } as FixtureGroup;
  };
  const segment = async (user: string, predicate: object, selects: (l: FixtureLead) => boolean) => {
    const [{ id }] = await tx`
      insert into public.segments (user_id, name, predicate)
      values (${user}, ${"segment " + crypto.randomUUID()}, ${
      JSON.stringify(predicate)
    }::text::jsonb)
      returning id`;
    return { id, members: leads.filter(selects).map((l) => l.id) } as FixtureGroup;
  };
  return {
    lists: [await list(owner, [leads[0], leads[1], leads[3]], [leads[2]]), await list(owner, [])],
    segments: [
      await segment(owner, { tags: { any: ["vip"] } }, (l) => l.tags.includes("vip")),
      await segment(
        owner,
        { statuses: ["new", "lost"], min_score: 5 },
        (l) => ["new", "lost"].includes(l.status) && l.score >= 5,
      ),
      await segment(owner, {}, () => true),
    ],
    strangers: [await list(stranger, []), await segment(stranger, {}, () => false)],
  };
}

async function newUser(tx: Tx, label: string): Promise<string> {
  const id = crypto.randomUUID();
  await tx`insert into auth.users (id, email) values (${id}, ${`${label}-${
    id.slice(0, 8)
  }@example.test`})`;
  return id;
}

const refusedValue = (list: Entry[]) =>
  list.some((entry) =>
    typeof entry === "object" && "leads" in entry && entry.leads.min_score !== undefined &&
    !(entry.leads.min_score instanceof RawNumber &&
      Number.isInteger(Number(entry.leads.min_score.text)) &&
      Math.abs(Number(entry.leads.min_score.text)) <= 100000)
  );

dbTest(
  "property: every recipient list the database accepts fans out to exactly what it selects",
  async () => {
    await asService(async (tx) => {
      const owner = await newUser(tx, "lists");
      const stranger = await newUser(tx, "stranger");
      const leads = await fixtureLeads(tx, owner, "lead", 10);
      const strangers = await fixtureLeads(tx, stranger, "someone", 3);
      const groups = await fixtureGroups(tx, owner, stranger, leads);

      await fc.assert(
        fc.asyncProperty(recipientList(leads, strangers, groups), async (list) => {
          const text = recipientListText(list);
          try {
            await tx.savepoint(async (sp) => {
              let campaignId: string;
              try {
                [{ id: campaignId }] = await sp`
                insert into public.email_campaigns (user_id, subject, content, recipient_list, status, send_at)
                values (${owner}, 'Hi', 'Hello', ${text}::text::jsonb, 'scheduled', now() + interval '1 day')
                returning id`;
              } catch (err) {
                // Refused: only a value the runtime could not read may be the reason.
                assert.equal((err as { code?: string }).code, "23514", `${text}: ${err}`);
                assert.ok(
                  refusedValue(list) || namesForeignGroup(list, groups),
                  `the validator refused a valid list ${text}: ${err}`,
                );
                throw new Rollback();
              }
              assert.ok(
                !refusedValue(list) && !namesForeignGroup(list, groups),
                `the validator accepted ${text}`,
              );

              await sp`update public.email_campaigns set status = 'sending' where id = ${campaignId}`;
              const rows = await sp<{ address: string; lead_id: string | null }[]>`
              select lower(email) as address, lead_id from public.email_deliveries
              where email_campaign_id = ${campaignId}`;
              const got = new Map(rows.map((r) => [r.address, r.lead_id]));
              assert.equal(got.size, rows.length, `each address once for ${text}`);
              assert.deepEqual(
                [...got].sort(),
                [...expectedRecipients(list, leads, groups)].sort(),
                `the recipients of ${text}`,
              );
              throw new Rollback();
            });
          } catch (err) {
            if (!(err instanceof Rollback)) throw err;
          }
        }),
        { numRuns: 80 },
      );
      throw new Rollback();
    }).catch((err) => {
      if (!(err instanceof Rollback)) throw err;
    });
  },
);
