// The report RPCs as an app calls them with `createClient<Database>`: the generated types
// (supabase/functions/_shared/database.types.ts) name every report's arguments and columns, and
// they are the real ones. At compile time (deno check, deno test): one typed supabase-js call of
// each report, a wrong argument refused, and an argument set and a column list per report that
// must name exactly what the types say. At run time: those argument sets run the reports in
// Postgres as their owner (by name, as PostgREST calls them) and the columns that come back are
// the typed ones, so the types cannot drift from the functions unnoticed. (The Docker-free stack
// has no PostgREST, so the supabase-js calls are type-checked here, not sent.)
import assert from "node:assert/strict";
import type { SupabaseClient } from "@supabase/supabase-js";
import { asUser, sql } from "../functions/_shared/db.ts";
import type { Database } from "../functions/_shared/database.types.ts";
import { createUser, dbTest, deleteUsers } from "../functions/_testing/harness.ts";

type Functions = Database["public"]["Functions"];
type Report = Extract<keyof Functions, `report_${string}`>;
type ReportArgs = { [R in Report]: Functions[R]["Args"] };
/** Every column of every report, exactly: a missing or an extra one does not type-check. */
type ReportColumns = { [R in Report]: Record<keyof Functions[R]["Returns"][number], true> };

const from_time = "2026-11-01T00:00:00Z";
const to_time = "2026-12-01T00:00:00Z";

/**
 * One call of each report, as an app writes it; the row types are the generated ones. Never
 * run (there is no PostgREST here): deno check and deno test compile it.
 */
function _appCalls(supabase: SupabaseClient<Database>, args: ReportArgs) {
  return Promise.all([
    supabase.rpc("report_events", args.report_events)
      .then(({ data }) => data?.map((row) => [row.bucket, row.uniques] satisfies [string, number])),
    supabase.rpc("report_top_events", args.report_top_events)
      .then(({ data }) => data?.map((row) => row.event_name satisfies string)),
    supabase.rpc("report_top_pages", args.report_top_pages)
      .then(({ data }) => data?.map((row) => row.views satisfies number)),
    supabase.rpc("report_campaigns", args.report_campaigns)
      .then(({ data }) => data?.map((row) => row.open_rate satisfies number)),
    supabase.rpc("report_campaign", args.report_campaign)
      .then(({ data }) => data?.[0]?.conversions satisfies number | undefined),
    supabase.rpc("report_funnel", args.report_funnel)
      .then(({ data }) => data?.map((row) => [row.bucket, row.stage] satisfies [string, string])),
    // The call from before the interval existed still type-checks, with the same rows.
    supabase.rpc("report_funnel", { from_time, to_time })
      .then(({ data }) => data?.map((row) => row.rate_from_previous satisfies number)),
    supabase.rpc("report_sources", args.report_sources)
      .then(({ data }) => data?.map((row) => row.utm_source satisfies string)),
    // @ts-expect-error: a misspelt argument does not type-check (`from`, not `from_time`).
    supabase.rpc("report_funnel", { from: from_time, to_time }),
    // @ts-expect-error: neither does an argument of the wrong type.
    supabase.rpc("report_top_pages", { from_time, to_time, max_rows: "ten" }),
  ]);
}

/** Both campaign reports return the same row. */
const CAMPAIGN_COLUMNS = {
  campaign_id: true,
  name: true,
  status: true,
  email_campaigns: true,
  sent: true,
  delivered: true,
  human_opens: true,
  clicks: true,
  unsubscribes: true,
  bounces: true,
  complaints: true,
  delivery_rate: true,
  open_rate: true,
  click_rate: true,
  unsubscribe_rate: true,
  bounce_rate: true,
  social_posts: true,
  social_impressions: true,
  social_likes: true,
  social_shares: true,
  leads: true,
  conversions: true,
  conversion_rate: true,
} satisfies ReportColumns["report_campaign"];

const COLUMNS = {
  report_events: { bucket: true, event_type: true, event_name: true, count: true, uniques: true },
  report_top_events: { event_type: true, event_name: true, count: true },
  report_top_pages: { path: true, views: true, uniques: true },
  report_funnel: {
    stage: true,
    stage_order: true,
    leads: true,
    rate_from_previous: true,
    bucket: true,
  },
  report_sources: {
    source: true,
    utm_source: true,
    utm_medium: true,
    leads: true,
    conversions: true,
    conversion_rate: true,
  },
  report_campaigns: CAMPAIGN_COLUMNS,
  report_campaign: CAMPAIGN_COLUMNS,
} satisfies ReportColumns;

dbTest("the generated types name every report RPC's real arguments and columns", async () => {
  const owner = await createUser("report-types");
  try {
    const [campaign] = await asUser(
      owner,
      (tx) => tx`insert into public.campaigns (name, type) values ('Spring', 'email') returning id`,
    );
    const args = {
      report_events: { from_time, to_time, interval: "day", filters: { event_type: "page" } },
      report_top_events: { from_time, to_time, max_rows: 5 },
      report_top_pages: { from_time, to_time, max_rows: 5 },
      report_campaigns: { from_time, to_time },
      report_campaign: { id: campaign.id },
      report_funnel: { from_time, to_time, interval: "week" },
      report_sources: { from_time, to_time },
    } satisfies ReportArgs;

    const inDatabase = await sql`
      select proname from pg_proc
      where pronamespace = 'public'::regnamespace and proname like 'report\\_%'
      order by proname`;
    assert.deepEqual(
      Object.keys(args).sort(),
      inDatabase.map((row) => row.proname),
      "every report RPC of the schema public has a typed call here",
    );

    for (const [report, reportArgs] of Object.entries(args)) {
      const names = Object.keys(reportArgs);
      // Untyped parameters take the types of the arguments they are passed to, as in PostgREST.
      const values = Object.values(reportArgs);
      const result = await asUser(owner, (tx) =>
        tx.unsafe(
          `select * from public.${report}(${
            names.map((n, i) => `"${n}" => $${i + 1}`).join(", ")
          })`,
          values,
        ));
      assert.deepEqual(
        result.columns.map((column) => column.name).sort(),
        Object.keys(COLUMNS[report as Report]).sort(),
        `${report}: the columns the database returns are the typed ones`,
      );
    }
  } finally {
    await deleteUsers(owner);
  }
});
