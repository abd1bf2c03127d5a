// The ingest benchmark (scripts/bench ingest): event ingestion over HTTP, as websites and apps
// send it (N clients each posting batches of 100 events to /functions/v1/collect, served by the
// local gateway as scripts/start serves it), against the database's own ceiling: the same
// events written by one in-database bulk insert (insert … select) into analytics_events,
// through the same triggers (message-id claims, engagement scoring, event workflows). Both
// phases run in this one run, each for its own fresh owner. Prints one table and the goal
// line (HTTP rate ≥ 50% of the bulk rate). Not a test: nothing here passes or fails on time.
//
//   deno run -A --env-file=scripts/local/functions.env scripts/local/bench/ingest.ts \
//     [--events 250000] [--clients 4] [--batch 100] [--visitors 1000]
import { parseArgs } from "node:util";
import { asService, asUser, sql } from "../../../supabase/functions/_shared/db.ts";
import { createWriteKey } from "../../../supabase/functions/_testing/collect.ts";
import { serveFunctions } from "../../../supabase/functions/_testing/email.ts";
import { createUser, deleteUsers } from "../../../supabase/functions/_testing/harness.ts";
import { number, printGoal, printTable } from "./output.ts";
import type { UserClaims } from "../../../supabase/functions/_shared/db.ts";

const usageText =
  "usage: scripts/bench ingest [--events N] [--clients N] [--batch N] [--visitors N]";
const { values } = parseArgs({
  args: Deno.args,
  options: {
    events: { type: "string", default: "250000" },
    clients: { type: "string", default: "4" },
    batch: { type: "string", default: "100" },
    visitors: { type: "string", default: "1000" },
  },
});
const events = Number(values.events);
const clients = Number(values.clients);
const batch = Number(values.batch);
const visitors = Number(values.visitors);
if (
  ![events, clients, batch, visitors].every((n) => Number.isInteger(n) && n > 0) || batch > 500
) {
  console.error(`${usageText}\n  (whole numbers above 0; --batch at most 500, collect's limit)`);
  Deno.exit(2);
}

const seconds = (ms: number) => `${(ms / 1000).toFixed(2)} s`;
const step = (text: string) => console.error(`bench: ${text}`);

const PATHS = ["/", "/pricing", "/blog/launch", "/docs", "/signup"];

/** Event n as the snippet sends it: a page view (every 5th a track), one of `visitors`. */
function event(n: number, run: string) {
  const page = n % 5 !== 4;
  return {
    type: page ? "page" : "track",
    ...(page ? {} : { event: "cta_clicked" }),
    properties: page
      ? {
        path: PATHS[n % PATHS.length],
        url: `https://bench.example${PATHS[n % PATHS.length]}`,
        utm_source: "bench",
      }
      : { button: "hero", plan: "pro" },
    anonymous_id: `visitor-${n % visitors}`,
    message_id: `${run}-${n}`,
    timestamp: new Date().toISOString(),
  };
}

const users: UserClaims[] = [];
const functions = await serveFunctions({
  // The benchmark measures throughput, not the per-key and per-address limits.
  BEACON_RATE_LIMIT_COLLECT_PER_TOKEN: "1000000",
  BEACON_RATE_LIMIT_COLLECT_PER_IP: "1000000",
});
try {
  step("creating two bench owners and a write key");
  const httpOwner = await createUser("bench-ingest-http");
  const bulkOwner = await createUser("bench-ingest-bulk");
  users.push(httpOwner, bulkOwner);
  const key = await createWriteKey(httpOwner, "bench");
  const run = crypto.randomUUID().slice(0, 8);
  const url = `${functions.url}/collect`;

  // Warm-up: one small request (the gateway's first request loads the function).
  const warm = await fetch(url, {
    method: "POST",
    headers: { "content-type": "application/json", authorization: `Bearer ${key}` },
    body: JSON.stringify({ batch: [event(0, `warmup-${run}`)] }),
  });
  if (warm.status !== 200) throw new Error(`collect answered ${warm.status}: ${await warm.text()}`);

  const requests = Math.ceil(events / batch);
  step(
    `${number(events)} events over HTTP: ${
      number(requests)
    } requests of ${batch} by ${clients} clients`,
  );
  let next = 0;
  let accepted = 0;
  const latencies: number[] = [];
  const httpStarted = performance.now();
  await Promise.all(Array.from({ length: clients }, async () => {
    for (let r = next++; r < requests; r = next++) {
      const body = {
        batch: Array.from(
          { length: Math.min(batch, events - r * batch) },
          (_, i) => event(r * batch + i, run),
        ),
      };
      const sent = performance.now();
      const res = await fetch(url, {
        method: "POST",
        headers: { "content-type": "application/json", authorization: `Bearer ${key}` },
        body: JSON.stringify(body),
      });
      const answer = await res.json();
      latencies.push(performance.now() - sent);
      if (res.status !== 200 || answer.rejected?.length) {
        throw new Error(`collect answered ${res.status}: ${JSON.stringify(answer).slice(0, 500)}`);
      }
      accepted += answer.accepted;
    }
  }));
  const httpMs = performance.now() - httpStarted;
  const [{ stored }] = await asService((tx) =>
    tx`select count(*)::int as stored from public.analytics_events
       where user_id = ${httpOwner.sub} and message_id like ${run + "-%"}`
  );

  step(`the same ${number(events)} events by one in-database insert … select`);
  const bulkStarted = performance.now();
  const [{ inserted }] = await asUser(bulkOwner, (tx) =>
    tx`with saved as (
         insert into public.analytics_events (
           event_type, event_name, properties, "timestamp", user_agent, ip_address, anonymous_id, message_id)
         select
           case when n % 5 <> 4 then 'page' else 'track' end,
           case when n % 5 <> 4 then 'page_view' else 'cta_clicked' end,
           case when n % 5 <> 4
             then jsonb_build_object('path', (${PATHS}::text[])[n % 5 + 1],
               'url', 'https://bench.example' || (${PATHS}::text[])[n % 5 + 1], 'utm_source', 'bench')
             else '{"button": "hero", "plan": "pro"}'::jsonb end,
           now(), 'bench', '127.0.0.1', 'visitor-' || n % ${visitors}, ${run} || '-' || n
         from generate_series(0, ${events - 1}) as n
         returning 1
       )
       select count(*)::int as inserted from saved`);
  const bulkMs = performance.now() - bulkStarted;

  latencies.sort((a, b) => a - b);
  const p = (q: number) =>
    latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))];
  const httpRate = stored / (httpMs / 1000);
  const bulkRate = inserted / (bulkMs / 1000);
  const ratio = (100 * httpRate) / bulkRate;
  const rows: [string, string, string, string][] = [
    [
      `POST /collect, ${clients} clients × batches of ${batch}`,
      number(stored),
      seconds(httpMs),
      `${number(httpRate)} events/s (request p50 ${p(0.5).toFixed(0)} ms, p95 ${
        p(0.95).toFixed(0)
      } ms)`,
    ],
    [
      "in-database insert … select",
      number(inserted),
      seconds(bulkMs),
      `${number(bulkRate)} events/s`,
    ],
    ["  ratio (HTTP / bulk)", "", "", `${ratio.toFixed(1)}%`],
  ];
  const header = ["ingestion", "events", "time", "rate"];
  console.log(
    `\ningest benchmark: ${number(events)} events (4 page views : 1 track, ${
      number(visitors)
    } visitors, ` +
      `unique message ids), each phase for a fresh owner; accepted over HTTP ${number(accepted)}`,
  );
  printTable(header, rows);
  if (stored !== events || inserted !== events) {
    throw new Error(
      `expected ${events} rows each, stored ${stored} over HTTP and ${inserted} in bulk`,
    );
  }
  console.log();
  printGoal("ingest_ratio", ratio, ">=", 50, { digits: 1, unit: "%" });
} finally {
  step("cleaning up");
  await deleteUsers(...users);
  await functions.stop();
  await sql.end();
}
