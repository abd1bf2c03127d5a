// segment_count at scale, for scripts/bench audience and scripts/bench segments: one owner with
// N leads (statuses, scores, tags, a plan field), signup events for one in fifty (half naming
// the lead by id, half by address) and email deliveries for a tenth, then segment_count called
// as the signed-in owner (security invoker, RLS on) for 10 segments whose predicates cover
// every part of the grammar, activity included; prints p50 and p95 per segment against a plain
// `count(*)` of the owner's leads, and the goal line. The owner and its data are deleted at the
// end.
import { asService, asUser } from "../../../supabase/functions/_shared/db.ts";
import { number, printGoal, printTable } from "./output.ts";

const step = (text: string) => console.error(`bench: ${text}`);
const percentile = (sorted: number[], p: number) =>
  sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];

const PREDICATES: [string, unknown][] = [
  ["everyone", {}],
  ["statuses", { statuses: ["qualified", "contacted"] }],
  ["score range", { min_score: 20, max_score: 60 }],
  ["tags any/none", { tags: { any: ["vip"], none: ["churned"] } }],
  ["tags all", { tags: { all: ["vip", "b2b"] } }],
  ["custom field eq", { custom_fields: [{ key: "plan", op: "eq", value: "pro" }] }],
  ["custom field gt", { custom_fields: [{ key: "seats", op: "gt", value: 50 }] }],
  ["pro signup in 30 days", {
    events: [{
      event_type: "track",
      event_name: "signup",
      properties: { plan: "pro" },
      within_days: 30,
    }],
  }],
  ["opened in 30 days", { emails: [{ action: "opened", within_days: 30 }] }],
  ["mixed, no signup", {
    statuses: ["qualified"],
    tags: { any: ["vip"] },
    events: [{ event_name: "signup", within_days: 30, absent: true }],
  }],
];

/** Builds the data, times the calls, prints the table and the goal line; returns whether it is met. */
export async function benchSegmentCounts(leads: number, calls: number): Promise<boolean> {
  const owner = crypto.randomUUID();
  const user = { sub: owner, role: "authenticated" as const };

  try {
    step(`creating the owner and ${number(leads)} leads, events and deliveries`);
    const t0 = performance.now();
    await asService(async (tx) => {
      await tx`insert into auth.users (id, email) values (${owner}, ${`bench-${
        owner.slice(0, 8)
      }@example.test`})`;
      // Leads and events are the benchmark's data, not its subject: written with their tables'
      // own triggers off (scoring, lead-change inbox, attribution, rollups: minutes for a
      // million leads; this transaction's ALTERs are undone with it on failure), each lead
      // with its score set outright.
      await tx`alter table public.leads disable trigger user`;
      await tx`alter table public.analytics_events disable trigger user`;
      await tx`
      insert into public.leads (user_id, email, status, tags, custom_fields, score)
      select ${owner}, 'lead' || n || '@bench.test',
        (array['new', 'qualified', 'contacted', 'converted', 'lost'])[1 + n % 5],
        case n % 5 when 0 then '{}' when 1 then '{vip}' when 2 then '{b2b}' when 3 then '{vip,b2b}' else '{churned}' end::text[],
        jsonb_build_object('plan', (array['free', 'pro', 'team'])[1 + n % 3], 'seats', n % 100),
        (hashtext(n::text) % 100 + 100) % 100
      from generate_series(1, ${leads}::int) as n`;
      // Half the events name the lead by id, half by address (any case), as collect does.
      await tx`
      insert into public.analytics_events (user_id, event_type, event_name, properties, "timestamp")
      select ${owner}, 'track', 'signup',
        case when hashtext(l.email) % 2 = 0 then jsonb_build_object('lead_id', l.id)
             else jsonb_build_object('email', upper(l.email)) end
          || jsonb_build_object('plan', l.custom_fields -> 'plan'),
        now() - make_interval(days => (hashtext(l.email) % 60 + 60) % 60)
      from public.leads as l
      where l.user_id = ${owner} and hashtext(l.id::text) % 50 = 0`;
      await tx`alter table public.analytics_events enable trigger user`;
      await tx`alter table public.leads enable trigger user`;
      const [{ id: campaign }] = await tx`
      insert into public.email_campaigns (user_id, subject, content, recipient_list)
      values (${owner}, 'Bench', 'Hello', '[]') returning id`;
      await tx`
      insert into public.email_deliveries (user_id, email_campaign_id, lead_id, email, status, idempotency_key, human_opened_at)
      select ${owner}, ${campaign}, l.id, l.email, 'delivered', l.id::text, now() - make_interval(days => (hashtext(l.email) % 60 + 60) % 60)
      from public.leads as l
      where l.user_id = ${owner} and hashtext(l.id::text) % 10 = 1`;
      await tx`analyze public.leads`;
      await tx`analyze public.email_deliveries`;
      await tx`analyze public.analytics_events`;
    });
    const setupMs = performance.now() - t0;

    const segments = await asUser(
      user,
      (tx) =>
        Promise.all(PREDICATES.map(async ([name, predicate]) => {
          const [row] = await tx`
        insert into public.segments (name, predicate) values (${name}, ${
            JSON.stringify(predicate)
          }::text::jsonb)
        returning id`;
          return { name, id: row.id as string };
        })),
    );

    const timed = async (
      call: (tx: Parameters<Parameters<typeof asUser>[1]>[0]) => Promise<unknown>,
    ) => {
      const times: number[] = [];
      let result: unknown;
      for (let i = 0; i < calls; i++) {
        const started = performance.now();
        result = await asUser(user, call);
        times.push(performance.now() - started);
      }
      times.sort((a, b) => a - b);
      return { p50: percentile(times, 50), p95: percentile(times, 95), result };
    };

    step(`calling segment_count ${calls} times per segment`);
    const baseline = await timed((tx) => tx`select count(*) from public.leads`);
    const rows: string[][] = [[
      "plain count(*) of the owner's leads",
      number(Number((baseline.result as { count: string }[])[0].count)),
      baseline.p50.toFixed(1),
      baseline.p95.toFixed(1),
    ]];
    const p95s: number[] = [];
    for (const segment of segments) {
      const m = await timed((tx) => tx`select public.segment_count(${segment.id}) as n`);
      p95s.push(m.p95);
      rows.push([
        `segment_count: ${segment.name}`,
        number(Number((m.result as { n: string }[])[0].n)),
        m.p50.toFixed(1),
        m.p95.toFixed(1),
      ]);
    }
    console.log(`setup: ${number(leads)} leads in ${(setupMs / 1000).toFixed(1)} s\n`);
    printTable(["call", "leads", "p50 ms", "p95 ms"], rows);
    console.log();
    const worst = Math.max(...p95s);
    return printGoal("segment_count_p95_ms", worst, "<", 500, {
      digits: 1,
      note: `worst of 10 predicates on ${number(leads)} leads; plain count(*) p95 ${
        baseline.p95.toFixed(1)
      } ms, ratio ${(worst / baseline.p95).toFixed(1)}`,
    });
  } finally {
    step("deleting the benchmark's owner");
    await asService((tx) => tx`delete from auth.users where id = ${owner}`);
  }
}
