// The inserts benchmark (scripts/bench inserts): what a lead insert by a signed-in app costs
// with Beacon's triggers, against the same inserts with the triggers off (plain Postgres: the
// table, its indexes, constraints and RLS), and with 20 matching lead_created workflows;
// then where the time of one insert goes, trigger by trigger (EXPLAIN ANALYZE's per-trigger
// times, summed over a sample of inserts). Not a test: nothing here passes or fails on time.
//
//   deno run -A --env-file=scripts/local/functions.env scripts/local/bench/inserts.ts \
//     [--leads 2000] [--clients 4] [--sample 200]
//
// The pg_cron workflow worker is paused for the run (executions are started, not run, so
// the inserts are measured alone) and resumed at the end; the triggers are switched off only
// for the baseline phase (ALTER TABLE … DISABLE TRIGGER USER: constraint triggers stay).
// Execution start latency is each lead's last execution's started_at minus the lead's
// created_at: the time from the insert to its workflows' executions existing (started by
// beacon-lead-changes). For the EXPLAIN sample with workflows that job is paused and the bench
// expands the sample's inbox rows itself, timed: the rate at which executions can start.
import { parseArgs } from "node:util";
import { number, printGoal, printTable } from "./output.ts";
import { awaitLeadChanges, benchClaims, createMatchingWorkflows, insertLeads } from "./leads.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    leads: { type: "string", default: "2000" },
    clients: { type: "string", default: "4" },
    sample: { type: "string", default: "200" },
  },
});
const leads = Number(values.leads);
const clients = Number(values.clients);
const sample = Number(values.sample);
if (![leads, clients, sample].every((n) => Number.isInteger(n) && n > 0)) {
  console.error("usage: scripts/bench inserts [--leads N] [--clients N] [--sample N]");
  Deno.exit(2);
}

Deno.env.set("BEACON_DB_POOL_SIZE", String(Math.min(50, clients + 1)));
const { asService, asUser, sql } = await import("../../../supabase/functions/_shared/db.ts");

const step = (text: string) => console.error(`bench: ${text}`);
const claims = benchClaims();
const userId = claims.sub;

type Plan = { Plan: unknown; Triggers?: { "Trigger Name": string; Time: number }[] };

/** `sample` inserts under EXPLAIN ANALYZE: each trigger's total ms and the statements' total. */
async function triggerTimes(prefix: string): Promise<Map<string, number>> {
  const times = new Map<string, number>();
  for (let n = 0; n < sample; n++) {
    const [row] = await asUser(claims, (tx) =>
      tx`explain (analyze, format json)
         insert into public.leads (email, first_name, company, source)
         values (${`${prefix}${n}@bench.example`}, ${"Lead " + n}, 'Bench Inc', 'bench')`);
    const [plan] = row["QUERY PLAN"] as (Plan & { "Execution Time": number })[];
    times.set("(whole statement)", (times.get("(whole statement)") ?? 0) + plan["Execution Time"]);
    for (const trigger of plan.Triggers ?? []) {
      // Postgres names the foreign key's check after its trigger's oid; say what it is.
      const name = trigger["Trigger Name"].startsWith("RI_ConstraintTrigger")
        ? "(foreign key check on user_id)"
        : trigger["Trigger Name"];
      times.set(name, (times.get(name) ?? 0) + trigger.Time);
    }
  }
  return times;
}

/** Waits until beacon-lead-changes has started the phase's executions; their latencies. */
async function startLatencies(prefix: string): Promise<number[]> {
  await awaitLeadChanges(asService, userId);
  const rows = await asService((tx) =>
    tx`select extract(epoch from max(e.started_at) - l.created_at)::float8 as seconds
       from public.leads as l
       join public.workflow_executions as e
         on e.user_id = l.user_id and (e.trigger_data ->> 'lead_id')::uuid = l.id
       where l.user_id = ${userId} and l.email like ${prefix + "%"}
       group by l.id, l.created_at`
  );
  return rows.map((row) => row.seconds as number).sort((a, b) => a - b);
}

const percentile = (sorted: number[], p: number) =>
  sorted.length === 0 ? NaN : sorted[Math.min(sorted.length - 1, Math.ceil(p * sorted.length) - 1)];

const setJob = (name: string, active: boolean) =>
  asService((tx) =>
    tx`select cron.alter_job(jobid, active := ${active}) from cron.job where jobname = ${name}`
  );

let paused = false;
let changesPaused = false;
let triggersOff = false;
try {
  step("pausing the pg_cron workflow worker and creating a bench user");
  await asService(async (tx) => {
    await tx`insert into auth.users (id, email) values (${userId}, ${claims.email})`;
  });
  await setJob("beacon-workflow-worker", false);
  paused = true;

  step(`warming up, then ${number(leads)} inserts with the triggers off`);
  await insertLeads(asUser, claims, "warm", Math.min(leads, 200), clients);
  await asService((tx) => tx`alter table public.leads disable trigger user`);
  triggersOff = true;
  const offMs = await insertLeads(asUser, claims, "off", leads, clients);
  await asService((tx) => tx`alter table public.leads enable trigger user`);
  triggersOff = false;

  step(`${number(leads)} inserts with every trigger, no workflow`);
  const fullMs = await insertLeads(asUser, claims, "full", leads, clients);
  step(`${number(sample)} inserts under EXPLAIN ANALYZE, no workflow`);
  const bareTimes = await triggerTimes("explain-bare");

  step("20 workflows that match every new lead");
  await createMatchingWorkflows(asUser, claims);
  step(`${number(leads)} inserts with every trigger, 20 matching workflows`);
  const busyMs = await insertLeads(asUser, claims, "busy", leads, clients);
  const latencies = await startLatencies("busy");
  step(`${number(sample)} inserts under EXPLAIN ANALYZE, 20 matching workflows`);
  // The sample's inbox rows wait for the bench, which expands them itself, timed: the rate at
  // which beacon-lead-changes starts executions.
  await setJob("beacon-lead-changes", false);
  changesPaused = true;
  await new Promise((resolve) => setTimeout(resolve, 1000));
  const busyTimes = await triggerTimes("explain-busy");
  step("expanding the sample's inbox rows");
  const executions = () =>
    asService((tx) =>
      tx`select count(*)::int as n from public.workflow_executions where user_id = ${userId}`
    ).then(([row]) => row.n as number);
  const startedBefore = await executions();
  const expandStarted = performance.now();
  await asService((tx) => tx`select private.expand_lead_changes(1000000)`);
  const expandMs = performance.now() - expandStarted;
  const expanded = (await executions()) - startedBefore;

  const rate = (ms: number) => `${number(leads / (ms / 1000))} inserts/s`;
  console.log(
    `\ninserts benchmark: ${number(leads)} single-lead inserts per phase by ${clients} clients ` +
      `(one transaction each, as the signed-in user)`,
  );
  printTable(["phase", "time", "rate"], [
    [
      "triggers off (plain Postgres: indexes, constraints, RLS)",
      `${(offMs / 1000).toFixed(2)} s`,
      rate(offMs),
    ],
    ["every trigger, no workflow", `${(fullMs / 1000).toFixed(2)} s`, rate(fullMs)],
    [
      "every trigger, 20 matching lead_created workflows",
      `${(busyMs / 1000).toFixed(2)} s`,
      rate(busyMs),
    ],
    [
      "  execution start after insert: p50 / p95 / max",
      "",
      [0.5, 0.95, 1].map((p) => `${percentile(latencies, p).toFixed(3)} s`).join(" / ") +
      ` (${number(latencies.length)} leads)`,
    ],
    [
      `  the inbox's expansion alone (${number(sample)} leads recorded)`,
      `${(expandMs / 1000).toFixed(2)} s`,
      `${number(expanded / (expandMs / 1000))} executions/s started`,
    ],
  ]);

  console.log(`\nwhere an insert's time goes (EXPLAIN ANALYZE, ms per insert, mean of ${sample})`);
  const names = [...new Set([...bareTimes.keys(), ...busyTimes.keys()])].sort((a, b) =>
    a === "(whole statement)" ? -1 : b === "(whole statement)" ? 1 : a.localeCompare(b)
  );
  const perInsert = (times: Map<string, number>, name: string) =>
    times.has(name) ? ((times.get(name) ?? 0) / sample).toFixed(3) : "-";
  printTable(
    ["trigger", "no workflow", "20 workflows"],
    names.map((name) => [name, perInsert(bareTimes, name), perInsert(busyTimes, name)]),
  );
  console.log();

  printGoal("insert_overhead", fullMs / offMs, "<=", 1.5, {
    unit: "×",
    note: "every trigger vs triggers off",
  });
  printGoal("workflow_insert_overhead", busyMs / fullMs, "<=", 1.5, {
    unit: "×",
    note: "20 matching workflows vs none",
  });
  printGoal("workflow_start_p95_s", percentile(latencies, 0.95), "<=", 2, {
    unit: " s",
    note: "insert to its executions started",
  });
} finally {
  step("cleaning up");
  await asService(async (tx) => {
    if (triggersOff) await tx`alter table public.leads enable trigger user`;
    await tx`delete from auth.users where id = ${userId}`;
  });
  if (paused) await setJob("beacon-workflow-worker", true);
  if (changesPaused) await setJob("beacon-lead-changes", true);
  await sql.end();
}
