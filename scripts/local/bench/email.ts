// The email benchmark (scripts/bench email): one campaign to 100,000 of a user's leads, from
// fan-out to the last message accepted by a fake Resend over real HTTP, through the dispatch
// function served as scripts/start serves it. Prints one table; every ratio in it comes from
// this one run. Not a test: nothing here passes or fails on time.
//
//   deno run -A --env-file=scripts/local/functions.env scripts/local/bench/email.ts \
//     [--recipients 100000] [--callers 2] [--latency-ms 0] [--content-kb 0]
//
// What it measures:
//   fan-out      the status change scheduled → sending, whose trigger resolves the lead
//                selector and writes one queue job per chunk of 100 recipients (what the cron
//                tick does; a campaign this large writes each chunk's deliveries at its first
//                claim, inside dispatch); goal fanout_100k_s: under 2 s for 100,000
//   dispatch     from the first POST /dispatch to the last delivery recorded as sent, with
//                `callers` POSTs in flight at a time (as pg_net and the local loop overlap)
//   the split    of the dispatchers' own time (their reports' db_ms, provider_ms,
//                render_ms, summed over every lane of every call): Postgres, Resend, rendering;
//                goal dispatch_db_share: Postgres under 30 % of it
//   CPU          each process's CPU seconds during dispatch, from /proc: the Postgres cluster
//                (its live and exited processes), the function server, and this process (the
//                callers and the fake Resend); per email and as shares of the CPU measured. On
//                cores they share, the lanes' wait on Postgres follows that share: a query
//                waits for a core as long as it runs on one.
//   --content-kb pads the campaign's body to about this many KB (a real newsletter is tens of
//                KB; the default body is one short paragraph)
//   finish       the tick that sees the queue empty, marks the campaign sent and counts metrics
import { parseArgs } from "node:util";
import { asService, sql } from "../../../supabase/functions/_shared/db.ts";
import { startResendFake } from "../../../supabase/functions/_testing/fakes/resend.ts";
import { serveFunctions, tick } from "../../../supabase/functions/_testing/email.ts";
import { localApiKey } from "../keys.ts";
import { number, percent, printGoal, printTable } from "./output.ts";
import { cpuBetween, cpuRows, postmasterOf, sampleCpu } from "./cpu.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    recipients: { type: "string", default: "100000" },
    callers: { type: "string", default: "2" },
    "latency-ms": { type: "string", default: "0" },
    "content-kb": { type: "string", default: "0" },
  },
});
const recipients = Number(values.recipients);
const callers = Number(values.callers);
const latencyMs = Number(values["latency-ms"]);
const contentKb = Number(values["content-kb"]);
if (!(recipients > 0 && callers > 0 && latencyMs >= 0 && contentKb >= 0)) {
  console.error(
    "usage: scripts/bench email [--recipients N] [--callers N] [--latency-ms N] [--content-kb N]",
  );
  Deno.exit(2);
}

const seconds = (ms: number) => `${(ms / 1000).toFixed(2)} s`;
const step = (text: string) => console.error(`bench: ${text}`);

type Report = {
  stopped: string;
  claimed: number;
  sent: number;
  failed: number;
  retried: number;
  provider_calls: number;
  db_ms: number;
  provider_ms: number;
  render_ms: number;
};

const userId = crypto.randomUUID();
const fake = startResendFake({ keepBodies: false, latencyMs });
const lanes = 4;
const functions = await serveFunctions({
  SUPABASE_DB_URL: Deno.env.get("SUPABASE_DB_URL")!,
  RESEND_API_KEY: "re_bench_platform_key",
  RESEND_API_URL: fake.url,
  BEACON_RESEND_RATE: "10000",
  BEACON_DISPATCH_CONCURRENCY: String(lanes),
  BEACON_DB_POOL_SIZE: String(Math.min(50, callers * lanes)),
});

try {
  step(`creating ${number(recipients)} leads for a bench user`);
  await asService(async (tx) => {
    await tx`insert into auth.users (id, email) values (${userId}, ${`bench-${userId}@example.test`})`;
    await tx`insert into public.leads (user_id, email, first_name, tags)
             select ${userId}, 'reader' || n || '@bench.example', 'Reader ' || n, '{bench}'
             from generate_series(1, ${recipients}) as n`;
  });
  // What autovacuum does within a minute of a bulk import. Without it the fan-out plans with
  // the leads table's old statistics and is many times slower (reported to the SQL side).
  await sql`analyze public.leads`;
  const paragraph =
    '<p>Hi {{first_name|there}}, read <a href="https://example.com/a">this</a> and ' +
    '<a href="https://example.com/b">that</a>.</p>';
  const content = "<h1>News</h1>" +
    paragraph.repeat(Math.max(1, Math.round((contentKb * 1024) / paragraph.length)));
  // Scheduled for tomorrow, so that pg_cron's own tick does not start it under our timer.
  const [campaign] = await asService((tx) =>
    tx`insert into public.email_campaigns
         (user_id, subject, content, recipient_list, status, send_at)
       values (${userId}, 'Hello {{first_name|there}}',
               ${content},
               '[{"leads": {"tags": ["bench"]}}]', 'scheduled', now() + interval '1 day')
       returning id`
  );

  step("fan-out");
  let t0 = performance.now();
  await asService((tx) =>
    tx`update public.email_campaigns set status = 'sending' where id = ${campaign.id}`
  );
  const fanOutMs = performance.now() - t0;
  const [{ queued }] = await asService((tx) =>
    tx`select count(*)::int as queued from private.email_queue where email_campaign_id = ${campaign.id}`
  );

  step(
    `dispatching ${number(queued)} messages, ${callers} callers × ${lanes} lanes`,
  );
  const service = await localApiKey("service_role");
  const reports: Report[] = [];
  const remaining = async () =>
    (await asService((tx) =>
      tx`select count(*)::int as n from private.email_queue where email_campaign_id = ${campaign.id}`
    ))[0].n as number;
  const [{ backend }] = await sql`select pg_backend_pid() as backend`;
  const postmaster = await postmasterOf(backend);
  const cpuBefore = await sampleCpu(postmaster, [functions.pid, Deno.pid]);
  t0 = performance.now();
  await Promise.all(Array.from({ length: callers }, async () => {
    for (;;) {
      const res = await fetch(`${functions.url}/dispatch`, {
        method: "POST",
        headers: {
          authorization: `Bearer ${service}`,
          "content-type": "application/json",
        },
        body: JSON.stringify({ budget_seconds: 25 }),
      });
      if (!res.ok) {
        throw new Error(`dispatch answered ${res.status}: ${await res.text()}`);
      }
      const report: Report = await res.json();
      reports.push(report);
      if (report.claimed === 0) {
        // Nothing ready: done, or the rest is leased to the other callers right now.
        if (await remaining() === 0) return;
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    }
  }));
  const dispatchMs = performance.now() - t0;
  const cpu = cpuBetween(cpuBefore, await sampleCpu(postmaster, [functions.pid, Deno.pid]));

  t0 = performance.now();
  const [finished] = await asService(async (tx) => {
    await tx`select private.email_tick()`;
    return await tx`select status, metrics from public.email_campaigns where id = ${campaign.id}`;
  });
  const finishMs = performance.now() - t0;
  // A concurrent pg_cron tick may have finished it first; either way it is finished now.
  if (finished.status !== "sent") await tick();

  const total = reports.reduce((sum, r) => ({
    sent: sum.sent + r.sent,
    failed: sum.failed + r.failed,
    retried: sum.retried + r.retried,
    calls: sum.calls + r.provider_calls,
    db: sum.db + r.db_ms,
    provider: sum.provider + r.provider_ms,
    render: sum.render + r.render_ms,
  }), {
    sent: 0,
    failed: 0,
    retried: 0,
    calls: 0,
    db: 0,
    provider: 0,
    render: 0,
  });
  const busy = total.db + total.provider + total.render;
  const delivered = new Set(fake.sent.map((email) => email.to[0])).size;

  const rows: string[][] = [
    [
      "fan-out (scheduled → sending, set-based)",
      seconds(fanOutMs),
      `${number(queued / (fanOutMs / 1000))} recipients/s`,
    ],
    [
      "dispatch, end to end (HTTP → fake Resend)",
      seconds(dispatchMs),
      `${number(total.sent / (dispatchMs / 1000))} emails/s`,
    ],
    [
      "  Postgres: claim, complete, key lookup",
      percent(total.db, busy),
      `${seconds(total.db)} over all lanes`,
    ],
    [
      "  Resend batch calls (fake, over HTTP)",
      percent(total.provider, busy),
      `${seconds(total.provider)}, ${number(total.calls)} calls`,
    ],
    [
      "  rendering (merge, links, tokens)",
      percent(total.render, busy),
      seconds(total.render),
    ],
    ...cpuRows(cpu, [
      [functions.pid, "dispatch function (the server)"],
      [Deno.pid, "this process (the callers, the fake Resend)"],
    ], { step: "dispatch", count: total.sent, unit: "email", elapsedMs: dispatchMs }),
    ["finish: tick, status and exact metrics", seconds(finishMs), ""],
  ];
  console.log(
    `\nemail benchmark: ${
      number(recipients)
    } recipients (one lead selector), ${callers} dispatch ` +
      `callers × ${lanes} lanes, fake Resend latency ${latencyMs} ms, ` +
      `${(content.length / 1024).toFixed(1)} KB body, ${reports.length} dispatch calls`,
  );
  printTable(["step", "time", "rate / detail"], rows);
  console.log(
    `\nsent ${number(total.sent)}, failed ${total.failed}, retried ${total.retried}; the fake ` +
      `received ${number(fake.sent.length)} emails for ${
        number(delivered)
      } addresses (no duplicates: ` +
      `${fake.sent.length === delivered ? "yes" : "NO"})`,
  );
  console.log();
  // Fan-out grows linearly with the recipients: a smaller run is scaled to 100,000.
  printGoal("fanout_100k_s", (fanOutMs / 1000) * (100_000 / recipients), "<", 2, {
    unit: " s",
    note: recipients === 100_000 ? undefined : `scaled from ${number(recipients)} recipients`,
  });
  printGoal("dispatch_db_share", (100 * total.db) / busy, "<", 30, {
    digits: 0,
    unit: " %",
    note: `of the dispatchers' time, fake Resend at ${latencyMs} ms`,
  });
} finally {
  step("cleaning up");
  const cleanup = performance.now();
  await asService((tx) => tx`delete from auth.users where id = ${userId}`);
  step(`cleaned up in ${seconds(performance.now() - cleanup)}`);
  await functions.stop();
  await fake.close();
  await sql.end();
}
