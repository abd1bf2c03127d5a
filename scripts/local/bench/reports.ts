// The reports benchmark (scripts/bench reports): N events over the last 90 days across 1,000
// owners, the daily rollups built by the pg_cron job's function, then every report RPC called
// as a signed-in owner (security invoker, RLS on) for randomly chosen owners; prints p50 and
// p95 per report and the goal line. Not a test: nothing here passes or fails on time.
//
//   deno run -A --env-file=scripts/local/functions.env scripts/local/bench/reports.ts \
//     [--events 1000000] [--owners 1000] [--calls 40] [--writers 2]
//
// The goal is p95 < 100 ms on 10,000,000 events (--events 10000000). The events are
// made set-based (insert … select from generate_series, 250,000 a statement, through every
// trigger, by --writers connections at once) in time order, as they arrive, into the month
// partitions a live database has for those days (made here by the partition job's function,
// as beacon-analytics-partitions would have). The rollup job (beacon-event-rollups) is paused
// meanwhile, so that the build timed here is the whole of it, by the function it runs.
import { parseArgs } from "node:util";
import { asService, asUser, sql } from "../../../supabase/functions/_shared/db.ts";
import { number, printGoal, printTable } from "./output.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    events: { type: "string", default: "1000000" },
    owners: { type: "string", default: "1000" },
    calls: { type: "string", default: "40" },
    writers: { type: "string", default: "2" },
  },
});
const events = Number(values.events);
const owners = Number(values.owners);
const calls = Number(values.calls);
const writers = Number(values.writers);
if (![events, owners, calls, writers].every((n) => Number.isInteger(n) && n > 0)) {
  console.error("usage: scripts/bench reports [--events N] [--owners N] [--calls N] [--writers N]");
  Deno.exit(2);
}

const step = (text: string) => console.error(`bench: ${text}`);
const percentile = (sorted: number[], p: number) =>
  sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];

const run = crypto.randomUUID().slice(0, 8);
const ids: string[] = Array.from({ length: owners }, () => crypto.randomUUID());

// Each report with the arguments an app's dashboard would send (the last 30 days, or 2 for
// hourly buckets).
const reports: [
  string,
  (tx: Parameters<Parameters<typeof asService>[0]>[0]) => Promise<unknown>,
][] = [
  [
    "report_events (day, 30 days)",
    (tx) => tx`select * from public.report_events(now() - interval '30 days', now(), 'day')`,
  ],
  [
    "report_events (week, 90 days, filtered)",
    (tx) =>
      tx`select * from public.report_events(now() - interval '90 days', now(), 'week', '{"event_type": "page"}')`,
  ],
  [
    "report_events (hour, 2 days)",
    (tx) => tx`select * from public.report_events(now() - interval '2 days', now(), 'hour')`,
  ],
  [
    "report_top_events (30 days)",
    (tx) => tx`select * from public.report_top_events(now() - interval '30 days', now(), 10)`,
  ],
  [
    "report_top_pages (30 days)",
    (tx) => tx`select * from public.report_top_pages(now() - interval '30 days', now(), 10)`,
  ],
  [
    "report_campaigns (30 days)",
    (tx) => tx`select * from public.report_campaigns(now() - interval '30 days', now())`,
  ],
  [
    "report_funnel (30 days)",
    (tx) => tx`select * from public.report_funnel(now() - interval '30 days', now())`,
  ],
  [
    "report_sources (30 days)",
    (tx) => tx`select * from public.report_sources(now() - interval '30 days', now())`,
  ],
];

const setRollupJob = (active: boolean) =>
  sql`select cron.alter_job(jobid, active := ${active}) from cron.job
      where jobname = 'beacon-event-rollups'`;
let paused = false;
// The month partitions made here: dropped at the end when empty, leaving the schema as it was.
let created: string[] = [];

try {
  step(`creating ${number(owners)} owners, a campaign and 20 leads each`);
  await asService(async (tx) => {
    await tx`insert into auth.users (id, email)
             select id, 'bench-reports-' || ${run} || '-' || n || '@example.test'
             from unnest(${ids}::uuid[]) with ordinality as u (id, n)`;
    await tx`insert into public.campaigns (user_id, name, type, status)
             select id, 'Spring', 'email', 'active' from unnest(${ids}::uuid[]) as id`;
    await tx`insert into public.leads (user_id, email, source, custom_fields)
             select id, 'lead' || n || '@bench.example', (array['website', 'ads', null])[1 + n % 3],
                    jsonb_build_object('first_touch', jsonb_build_object(
                      'utm_campaign', 'Spring', 'utm_source', 'google', 'utm_medium', 'cpc'))
             from unnest(${ids}::uuid[]) as id, generate_series(1, 20) as n`;
  });

  step("pausing beacon-event-rollups; month partitions for the last 90 days");
  await setRollupJob(false);
  paused = true;
  created = (await asService((tx) =>
    tx`select private.analytics_event_partition_name(m::date) as name
       from generate_series(date_trunc('month', now() - interval '90 days'),
                            date_trunc('month', now()), interval '1 month') as m
       where private.create_analytics_event_partition(m::date)`
  )).map((row) =>
    row.name as string
  );

  // Event g of N happens at start + g/N of 90 days (time order, as events arrive), for a
  // pseudo-random owner.
  const batch = 250_000;
  const [{ start }] = await sql`select now() - interval '90 days' as start`;
  const t0 = performance.now();
  let next = 0;
  await Promise.all(Array.from({ length: writers }, async () => {
    for (let done = next; done < events; done = next) {
      next += batch;
      const n = Math.min(batch, events - done);
      step(`inserting events ${number(done + 1)}–${number(done + n)} of ${number(events)}`);
      await asService((tx) =>
        tx`insert into public.analytics_events
             (user_id, event_type, event_name, properties, "timestamp", anonymous_id)
           select (${ids}::uuid[])[1 + (g::bigint * 7919) % ${owners}::int],
                  (array['page', 'track', 'track', 'identify'])[1 + g % 4],
                  (array['view', 'signup', 'click', 'download', 'play'])[1 + g % 5],
                  jsonb_build_object('path', '/page-' || (g % 50)),
                  ${start}::timestamptz + (g::float8 / ${events}) * interval '90 days',
                  'anon-' || (g % 5000)
           from generate_series(${done}::int, ${done + n - 1}::int) as g`
      );
    }
  }));
  const insertMs = performance.now() - t0;

  step("building the daily rollups (private.refresh_event_rollups)");
  const t1 = performance.now();
  const [{ days }] = await asService((tx) => tx`select private.refresh_event_rollups() as days`);
  const rollupMs = performance.now() - t1;
  await sql`analyze public.analytics_events`;
  await sql`analyze private.event_rollups_daily`;

  const rows: string[][] = [];
  let worstP95 = 0;
  for (const [label, call] of reports) {
    step(label);
    const times: number[] = [];
    for (let i = 0; i < calls; i++) {
      const owner = ids[Math.floor(Math.random() * owners)];
      const started = performance.now();
      await asUser({ sub: owner, role: "authenticated" }, call);
      times.push(performance.now() - started);
    }
    times.sort((a, b) => a - b);
    const p50 = percentile(times, 50);
    const p95 = percentile(times, 95);
    worstP95 = Math.max(worstP95, p95);
    rows.push([label, `${p50.toFixed(1)} ms`, `${p95.toFixed(1)} ms`]);
  }

  const header = ["report (as a signed-in owner, RLS on)", "p50", "p95"];
  console.log(
    `\nreports benchmark: ${number(events)} events over 90 days across ${number(owners)} owners; ` +
      `${calls} calls per report, each for a random owner`,
  );
  console.log(
    `inserted in ${(insertMs / 1000).toFixed(1)} s (${
      number(events / (insertMs / 1000))
    } events/s); ` +
      `${writers} writers; rollups of ${number(days)} owner-days built in ${
        (rollupMs / 1000).toFixed(1)
      } s`,
  );
  printTable(header, rows);
  console.log();
  printGoal("reports_p95_ms", worstP95, "<", 100, {
    digits: 1,
    note: events < 10_000_000
      ? `measured on ${number(events)} events; the goal is stated for 10,000,000`
      : undefined,
  });
} finally {
  step("cleaning up");
  await asService((tx) => tx`delete from auth.users where id = any(${ids}::uuid[])`);
  for (const name of created) {
    const table = sql(`private.${name}`);
    const [{ empty }] = await sql`select not exists (select from ${table}) as empty`;
    if (empty) await sql`drop table ${table}`;
  }
  if (paused) await setRollupJob(true);
  await sql.end();
}
