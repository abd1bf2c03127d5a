// Property: the one lead grammar has one meaning. For random leads, analytics events and email
// deliveries (lead_predicate_arbitraries.ts), every predicate the validator
// (private.lead_conditions_problem) accepts compiles (private.lead_conditions_sql) to SQL that
// runs and selects exactly the leads private.lead_matches accepts one at a time, never another
// owner's; a refused predicate is refused with a message naming its path.
//
// Runs against the real local Postgres in one transaction that is rolled back.
import assert from "node:assert/strict";
import fc from "fast-check";
import { asService, type Tx } from "../../functions/_shared/db.ts";
import { dbTest } from "../../functions/_testing/harness.ts";
import { delivery, event, jsonText, lead, predicate } from "./lead_predicate_arbitraries.ts";

class Rollback extends Error {}

async function newUser(tx: Tx, label: string): Promise<string> {
  const id = crypto.randomUUID();
  await tx`insert into auth.users (id, email) values (${id}, ${`${label}-${
    id.slice(0, 8)
  }@example.test`})`;
  return id;
}

const data = fc.record({
  leads: fc.array(lead, { minLength: 1, maxLength: 12 }),
  events: fc.array(event, { maxLength: 15 }),
  deliveries: fc.array(delivery, { maxLength: 8 }),
});
type Data = typeof data extends fc.Arbitrary<infer T> ? T : never;

/** The owner's data: leads, then events and deliveries about them (set-based inserts). */
async function seed(tx: Tx, owner: string, prefix: string, data: Data): Promise<string[]> {
  await tx`select set_config('beacon.trusted_score_write', 'on', true)`;
  const rows = data.leads.map((l, i) => ({
    email: `${prefix}${i}@example.test`,
    status: l.status,
    score: l.score,
    tags: l.tags,
    custom_fields: l.custom_fields,
  }));
  const ids = (await tx<{ id: string }[]>`
    insert into public.leads (user_id, email, status, tags, custom_fields)
    select ${owner}, r.email, r.status, array(select jsonb_array_elements_text(r.tags)), r.custom_fields
    from jsonb_to_recordset(${JSON.stringify(rows)}::text::jsonb)
      as r (email text, status text, score int, tags jsonb, custom_fields jsonb)
    order by r.email
    returning id`).map((r) => r.id);
  await tx`
    update public.leads as l set score = r.score
    from jsonb_to_recordset(${JSON.stringify(rows)}::text::jsonb) as r (email text, score int)
    where l.user_id = ${owner} and l.email = r.email`;
  const emails = rows.map((r) => r.email).sort();
  const events = data.events.map((e) => {
    const i = e.lead % emails.length;
    const about = e.by === "lead_id"
      ? { lead_id: ids[i].toUpperCase() }
      : e.by === "email"
      ? { email: emails[i].toUpperCase() }
      : {};
    return { ...e, properties: { ...e.properties, ...about } };
  });
  await tx`
    insert into public.analytics_events (user_id, event_type, event_name, properties, "timestamp")
    select ${owner}, e.event_type, e.event_name, e.properties, now() - make_interval(days => e.days_ago)
    from jsonb_to_recordset(${JSON.stringify(events)}::text::jsonb)
      as e (event_type text, event_name text, properties jsonb, days_ago int)`;
  const [{ id: campaign }] = await tx`
    insert into public.email_campaigns (user_id, subject, content, recipient_list)
    values (${owner}, 'Hi', 'Hello', '[]') returning id`;
  const deliveries = data.deliveries.map((d, n) => ({
    ...d,
    lead_id: ids[d.lead % ids.length],
    n,
  }));
  await tx`
    insert into public.email_deliveries (user_id, email_campaign_id, lead_id, email, status, idempotency_key,
      human_opened_at, human_clicked_at, bounced_at)
    select ${owner}, ${campaign}, d.lead_id, ${prefix} || d.n || '@mail.test', 'delivered', ${owner} || ':' || d.n,
      now() - make_interval(days => d.opened_days_ago), now() - make_interval(days => d.clicked_days_ago),
      now() - make_interval(days => d.bounced_days_ago)
    from jsonb_to_recordset(${JSON.stringify(deliveries)}::text::jsonb)
      as d (lead_id uuid, n int, opened_days_ago int, clicked_days_ago int, bounced_days_ago int)`;
  await tx`select set_config('beacon.trusted_score_write', '', true)`;
  return ids;
}

dbTest(
  "property: every accepted lead predicate compiles, runs and agrees with lead_matches",
  async () => {
    await fc.assert(
      fc.asyncProperty(
        data,
        data,
        fc.array(predicate, { minLength: 1, maxLength: 8 }),
        async (mine, theirs, predicates) => {
          await asService(async (tx) => {
            await tx`update private.email_queue set paused = true where not paused`;
            const owner = await newUser(tx, "segments");
            const stranger = await newUser(tx, "stranger");
            const ids = await seed(tx, owner, "lead", mine);
            await seed(tx, stranger, "lead", theirs);
            for (const p of predicates) {
              const text = jsonText(p);
              const [{ problem }] = await tx`
            select private.lead_conditions_problem('predicate', ${text}::text::jsonb) as problem`;
              if (problem !== null) {
                assert.match(problem, /^predicate[.:\[]/, `a refusal names the path: ${problem}`);
                continue;
              }
              const [{ compiled }] = await tx`
            select private.lead_conditions_sql(${text}::text::jsonb, 'l', quote_literal(${owner}) || '::uuid') as compiled`;
              const bySql = (await tx.unsafe(
                `select l.id from public.leads as l where l.user_id = $1 and ${compiled} order by l.id`,
                [owner],
              )).map((r) => r.id as string);
              const byRow = (await tx<{ id: string }[]>`
            select l.id from public.leads as l
            where l.user_id = ${owner} and private.lead_matches(l, ${text}::text::jsonb) order by l.id`)
                .map((r) => r.id);
              assert.deepEqual(bySql, byRow, `compiled SQL and lead_matches agree on ${text}`);
              assert.ok(
                bySql.every((id) => ids.includes(id)),
                `only the owner's leads for ${text}`,
              );
            }
            throw new Rollback();
          }).catch((err) => {
            if (!(err instanceof Rollback)) throw err;
          });
        },
      ),
      { numRuns: 40 },
    );
  },
);
