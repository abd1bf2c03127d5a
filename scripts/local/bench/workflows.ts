// The workflows benchmark (scripts/bench workflows): lead inserts as an app makes them (one
// lead per transaction, as the signed-in user, several clients at once), first with no
// workflow and then with 20 active workflows that all match every new lead; then the worker
// draining the executions those inserts started. Prints one table; every ratio in it comes
// from this one run. Not a test: nothing here passes or fails on time.
//
//   deno run -A --env-file=scripts/local/functions.env scripts/local/bench/workflows.ts \
//     [--leads 5000] [--clients 4] [--workers 1]
//
// The inserts' executions are started by beacon-lead-changes within about a second; the bench
// waits for them before the worker phase. The pg_cron worker (beacon-workflow-worker) is paused
// for the run, so that the inserts are measured alone and the worker's rate is the benchmark's
// own workers'; it is resumed at the end. Half the leads' executions run one at a time first, as
// the baseline of the same run. Each of the 20 workflows has three steps (add_tag, set_field,
// adjust_score). The bench user's workflow quota is raised above what the run can reach. The
// worker runs batches of the pg_cron job's size; its goal (issue 13) is 5,000 executions/s per
// worker.
import { parseArgs } from "node:util";
import { awaitLeadChanges, benchClaims, createMatchingWorkflows, insertLeads } from "./leads.ts";
import { printGoal } from "./output.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    leads: { type: "string", default: "5000" },
    clients: { type: "string", default: "4" },
    workers: { type: "string", default: "1" },
  },
});
const leads = Number(values.leads);
const clients = Number(values.clients);
const workers = Number(values.workers);
if (![leads, clients, workers].every((n) => Number.isInteger(n) && n > 0)) {
  console.error("usage: scripts/bench workflows [--leads N] [--clients N] [--workers N]");
  Deno.exit(2);
}

// One connection per client and per worker (the pool size is read when db.ts loads).
Deno.env.set("BEACON_DB_POOL_SIZE", String(Math.min(50, clients + workers)));
const { asService, asUser, sql } = await import("../../../supabase/functions/_shared/db.ts");

const seconds = (ms: number) => `${(ms / 1000).toFixed(2)} s`;
const number = (n: number) => Math.round(n).toLocaleString("en-US");
const step = (text: string) => console.error(`bench: ${text}`);
// The batch size of the beacon-workflow-worker job (20261206130300_workflow_worker_batch_size).
const batchSize = 2000;

const claims = benchClaims();
const userId = claims.sub;

let paused = false;
try {
  step("pausing the pg_cron worker and creating a bench user");
  await asService(async (tx) => {
    await tx`select cron.alter_job(jobid, active := false) from cron.job where jobname = 'beacon-workflow-worker'`;
    await tx`insert into auth.users (id, email) values (${userId}, ${claims.email})`;
    // The benchmark measures the worker's rate, not the per-owner quota (1,000 executions a
    // minute by default): its one owner gets a quota above anything it can run.
    await tx`insert into private.workflow_quotas (user_id, executions_per_minute)
             values (${userId}, 10000000)`;
  });
  paused = true;
  // A worker run that started before the pause finishes its own batches first.
  for (let waited = 0; waited < 60; waited++) {
    const [{ running }] = await asService((tx) =>
      tx`select count(*)::int as running from pg_stat_activity
         where pid <> pg_backend_pid() and query like '%run_workflow_batch%' and state = 'active'`
    );
    if (running === 0) break;
    if (waited === 0) step("waiting for a running pg_cron worker to finish");
    await new Promise((resolve) => setTimeout(resolve, 1000));
  }

  step(`${number(leads)} lead inserts, no workflow`);
  const bareMs = await insertLeads(asUser, claims, "bare", leads, clients);

  step("20 workflows that match every new lead");
  await createMatchingWorkflows(asUser, claims);

  step(`${number(leads)} lead inserts, 20 matching workflows`);
  const busyMs = await insertLeads(asUser, claims, "busy", leads, clients);
  await awaitLeadChanges(asService, userId);
  const [{ started }] = await asService((tx) =>
    tx`select count(*)::int as started from public.workflow_executions where user_id = ${userId}`
  );

  // The baseline in this run: the executions of the first half of the leads (busy0 to
  // busy<half - 1>, by number: as text, busy15@ sorts after busy150) one at a time
  // (private.run_workflow_execution, the worker before it was set-based), in committed batches
  // of 200 as that worker took them; then the worker, set-based, drains the other half.
  const half = Math.floor(leads / 2);
  step(`one at a time: the executions of ${number(half)} leads`);
  const oneStarted = performance.now();
  let oneByOne = 0;
  for (;;) {
    const [{ ran }] = await asService((tx) =>
      tx`select count(private.run_workflow_execution(c.r))::int as ran
         from (
           select r
           from private.workflow_runs as r
           join public.leads as l on l.id = r.lead_id
           where r.user_id = ${userId} and l.email like 'busy%'
             and substring(l.email from '^busy([0-9]+)@')::int < ${half}
             and r.run_after <= now()
           order by r.run_after, r.workflow_id
           limit 200
           for update of r skip locked
         ) as c`
    );
    oneByOne += ran;
    if (ran === 0) break;
  }
  const oneMs = performance.now() - oneStarted;
  // What autovacuum does within a minute of the baseline: it deleted 50,000 runs at the head of
  // the queue's index, and until they are vacuumed every claim steps over them (85 ms a claim
  // in one run, 5 ms in another where autovacuum came first). The worker is measured on the
  // queue as it runs in production, not on the baseline's garbage.
  await sql`vacuum (analyze) private.workflow_runs, public.workflow_executions, public.leads`;

  step(`the worker runs ${number(started - oneByOne)} executions with ${workers} worker(s)`);
  const workStarted = performance.now();
  let batches = 0;
  await Promise.all(Array.from({ length: workers }, async () => {
    for (;;) {
      const [{ ran }] = await asService((tx) =>
        tx`select private.run_workflow_batch(${batchSize}) as ran`
      );
      batches++;
      if (ran === 0) return;
    }
  }));
  const workMs = performance.now() - workStarted;
  const [done] = await asService((tx) =>
    tx`select
         count(*) filter (where status = 'completed')::int as completed,
         count(*) filter (where status <> 'completed')::int as other,
         (select count(*)::int from public.leads where user_id = ${userId} and cardinality(tags) = 20) as tagged
       from public.workflow_executions where user_id = ${userId}`
  );
  const oneRate = oneByOne / (oneMs / 1000);
  const workRate = (done.completed - oneByOne) / (workMs / 1000);

  const bareRate = leads / (bareMs / 1000);
  const busyRate = leads / (busyMs / 1000);
  const rows: [string, string, string][] = [
    ["lead inserts, 0 workflows", seconds(bareMs), `${number(bareRate)} inserts/s`],
    ["lead inserts, 20 matching workflows", seconds(busyMs), `${number(busyRate)} inserts/s`],
    [
      "  ratio (0 / 20 workflows)",
      "",
      `${(bareRate / busyRate).toFixed(2)}×, ${number(started)} executions started`,
    ],
    [
      "one at a time (run_workflow_execution, batches of 200)",
      seconds(oneMs),
      `${number(oneRate)} executions/s (${number(3 * oneRate)} steps/s)`,
    ],
    [
      `worker, set-based (${workers} worker, batches of ${number(batchSize)})`,
      seconds(workMs),
      `${number(workRate)} executions/s (${number(3 * workRate)} steps/s)`,
    ],
    ["  ratio (set-based / one at a time)", "", `${(workRate / oneRate).toFixed(2)}×`],
  ];
  const header = ["step", "time", "rate"];
  const width = [0, 1, 2].map((i) =>
    Math.max(header[i].length, ...rows.map((row) => row[i].length))
  );
  const line = (cells: string[]) =>
    `| ${cells.map((cell, i) => cell.padEnd(width[i])).join(" | ")} |`;
  console.log(
    `\nworkflows benchmark: ${number(leads)} single-lead inserts per phase by ${clients} clients ` +
      `(one transaction each, as the signed-in user); 20 lead_created workflows of 3 steps`,
  );
  console.log(line(header));
  console.log(`|${width.map((w) => "-".repeat(w + 2)).join("|")}|`);
  for (const row of rows) console.log(line(row));
  console.log(
    `\n${number(done.completed)} executions completed, ${done.other} not; ${
      number(done.tagged)
    } leads carry all 20 tags; ` +
      `${batches} worker batches`,
  );
  printGoal("workflow_executions_per_s", workRate / workers, ">=", 5000, {
    digits: 0,
    note: `${workers} worker(s), batches of ${number(batchSize)}`,
  });
} finally {
  step("cleaning up");
  await asService(async (tx) => {
    await tx`delete from auth.users where id = ${userId}`;
    if (paused) {
      await tx`select cron.alter_job(jobid, active := true) from cron.job where jobname = 'beacon-workflow-worker'`;
    }
  });
  await sql.end();
}
