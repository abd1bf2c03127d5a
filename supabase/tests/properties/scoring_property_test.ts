// Whatever scoring rules and settings the database accepts, its scoring runs: rescoring
// (private.rescore_leads, what the job beacon-apply-scoring-rules runs per owner), the lead
// triggers, engagement awards (analytics events inserted) and decay
// (private.decay_engagement_of, the nightly job's statement) never fail on them, and
// afterwards every lead's score is the per-row evaluation of its rules
// (private.lead_profile_points) plus what its ledger holds besides profile points (the score
// bound's cuts, engagement, decay, workflows), and explain_lead_score sums to it, its profile
// rows to that evaluation. A write the database refuses must be a check violation (23514) with
// a message: a clear error, never a crash. Generators: scoring_rules_arbitraries.ts.
import assert from "node:assert/strict";
import fc from "fast-check";
import { asService, asUser, type Tx, type UserClaims } from "../../functions/_shared/db.ts";
import { createUser, dbTest, deleteUsers } from "../../functions/_testing/harness.ts";
import {
  type Lead,
  lead,
  type Rule,
  rule,
  type Settings,
  settings,
  type Surge,
  surge,
  type Visit,
  visit,
} from "./scoring_rules_arbitraries.ts";

const SCORE_BOUND_KEY = "score bound: kept within -100000 to 100000";

/** Runs a write the database may refuse; a refusal must be a check violation with a message. */
async function accepted(write: () => Promise<unknown>): Promise<boolean> {
  try {
    await write();
    return true;
  } catch (error) {
    const { code, message } = error as { code?: string; message?: string };
    if (code !== "23514" || !message) throw error;
    return false;
  }
}

async function insertRule(user: UserClaims, r: Rule) {
  return await accepted(() =>
    asUser(user, (tx) =>
      tx`insert into public.scoring_rules (name, condition, points, is_active)
         values (${r.name}, ${r.condition}::text::jsonb, ${r.points}, ${r.is_active})`)
  );
}

async function insertSettings(user: UserClaims, s: Settings) {
  return await accepted(() =>
    asUser(
      user,
      (tx) =>
        tx`insert into public.scoring_settings (qualification_threshold, engagement_half_life_days)
         values (${s.qualification_threshold}, ${s.engagement_half_life_days})`,
    )
  );
}

async function insertLeads(user: UserClaims, leads: Lead[]): Promise<string[]> {
  return await asUser(user, async (tx) => {
    const ids: string[] = [];
    for (const l of leads) {
      const [{ id }] = await tx`
        insert into public.leads (email, first_name, last_name, company, phone, source, tags, custom_fields)
        values (${l.email}, ${l.first_name}, ${l.last_name}, ${l.company}, ${l.phone}, ${l.source},
                ${l.tags}::text[], ${l.custom_fields}::text::jsonb)
        returning id`;
      ids.push(id);
    }
    return ids;
  });
}

async function recordVisits(user: UserClaims, leadIds: string[], visits: [number, Visit][]) {
  await asUser(user, async (tx) => {
    for (const [n, v] of visits) {
      await tx`
        insert into public.analytics_events (event_type, event_name, properties, "timestamp")
        select coalesce(f.event_type, ${v.event_type}), coalesce(f.event_name, ${v.event_name}),
               ${v.properties}::text::jsonb || coalesce(f.properties, '{}')
                 || jsonb_build_object('lead_id', ${leadIds[n % leadIds.length]}::uuid),
               now() + i * interval '1 millisecond'
        from generate_series(1, ${v.times}) as i
        left join lateral (
          select r.condition ->> 'event_type' as event_type, r.condition ->> 'event_name' as event_name,
                 r.condition -> 'properties' as properties
          from public.scoring_rules as r
          where r.condition ->> 'type' = 'event'
          order by r.created_at, r.id
          offset ${v.follows ?? 0} % greatest(
            (select count(*) from public.scoring_rules as c where c.condition ->> 'type' = 'event'), 1)
          limit 1
        ) as f on ${v.follows !== null}`;
    }
  });
}

/** A rule worth points per "surge" event, and that many such events about the first lead. */
async function recordSurge(user: UserClaims, leadId: string, s: Surge) {
  await asUser(user, async (tx) => {
    await tx`insert into public.scoring_rules (name, condition, points)
             values ('surge', '{"type": "event", "event_type": "surge"}', ${s.points})`;
    await tx`insert into public.analytics_events (event_type, event_name, properties, "timestamp")
             select 'surge', 'burst', jsonb_build_object('lead_id', ${leadId}::uuid), now() + i * interval '1 millisecond'
             from generate_series(1, ${s.times}) as i`;
  });
}

const rescore = (owner: string) =>
  asService((tx) => tx`select private.rescore_leads(${owner}::uuid)`);

type Check = {
  id: string;
  score: number;
  profile: number;
  ledger: number;
};

async function assertScoresAddUp(user: UserClaims) {
  const rows = await asService((tx: Tx) =>
    tx<Check[]>`
      select
        l.id,
        l.score,
        private.lead_profile_points(l) as profile,
        coalesce(sum(case when g.source = 'rule' then coalesce((g.details ->> ${SCORE_BOUND_KEY})::int, 0)
                          else g.points end), 0)::int as ledger
      from public.leads as l
      left join public.lead_score_ledger as g on g.lead_id = l.id
      where l.user_id = ${user.sub}
      group by l.id`
  );
  for (const row of rows) {
    assert.equal(
      row.profile + row.ledger,
      row.score,
      `lead ${row.id}: profile points and the ledger's other parts add up to the score`,
    );
    const [{ explained, profile }] = await asUser(
      user,
      (tx) =>
        tx`select
             coalesce(sum(points), 0)::int as explained,
             coalesce(sum(points) filter (where source = 'rule' and reason <> ${SCORE_BOUND_KEY}), 0)::int
               as profile
           from public.explain_lead_score(${row.id})`,
    );
    assert.equal(explained, row.score, `lead ${row.id}: explain_lead_score sums to the score`);
    assert.equal(
      profile,
      row.profile,
      `lead ${row.id}: its profile rows are the per-row evaluation`,
    );
  }
  const [{ pending }] = await asService((tx) =>
    tx`select
         (select count(*) from public.scoring_rules as r
          where r.user_id = ${user.sub} and r.is_active and r.condition ->> 'type' <> 'event')
         - (select count(*) from private.applied_scoring_rules as a where a.user_id = ${user.sub})
         as pending`
  );
  assert.equal(Number(pending), 0, "rescoring applied every active profile rule");
}

const scenario = fc.record({
  settings: settings,
  rules: fc.oneof(
    { weight: 6, arbitrary: fc.array(rule, { maxLength: 8 }) },
    { weight: 1, arbitrary: fc.array(rule, { minLength: 50, maxLength: 70 }) },
  ),
  leads: fc.integer({ min: 1, max: 4 }).chain((count) =>
    fc.tuple(...Array.from({ length: count }, (_, n) => lead(n)))
  ),
  visits: fc.array(fc.tuple(fc.nat(), visit), { minLength: 1, maxLength: 4 }),
  surge: fc.option(surge, { nil: null, freq: 3 }),
  ageDays: fc.oneof(fc.integer({ min: 0, max: 400 }), fc.constant(100000)),
});

dbTest("every scoring rule and setting the database accepts runs, and scores add up", async () => {
  await fc.assert(
    fc.asyncProperty(scenario, async (s) => {
      const user = await createUser("scoring-property");
      try {
        await insertSettings(user, s.settings);
        const leadIds = await insertLeads(user, s.leads);
        for (const r of s.rules) await insertRule(user, r);
        await rescore(user.sub);

        await recordVisits(user, leadIds, s.visits);
        if (s.surge) await recordSurge(user, leadIds[0], s.surge);
        // The leads change: the row trigger and the statement triggers score them.
        await asUser(user, (tx) =>
          tx`update public.leads
             set company = case when company is null then 'Acme Inc' end,
                 tags = array_append(tags, 'vip')`);
        await asService(async (tx) => {
          await tx`update private.lead_engagement set decayed_at = now() - ${s.ageDays} * interval '1 day'
                   where user_id = ${user.sub}`;
          await tx`select private.decay_engagement_of(${user.sub}::uuid)`;
        });
        await assertScoresAddUp(user);

        // Every rule turned over (reactivations past the bounds are refused), and rescored.
        await accepted(() =>
          asUser(user, (tx) => tx`update public.scoring_rules set is_active = not is_active`)
        );
        await rescore(user.sub);
        await assertScoresAddUp(user);
      } finally {
        await deleteUsers(user);
      }
    }),
    { numRuns: 60 },
  );
});
