// The scoring benchmark (scripts/bench scoring): one user with 1,000,000 leads and 20 profile
// rules of every kind, rescored set-based by private.rescore_leads (what the pg_cron job
// beacon-apply-scoring-rules runs after a rule change). Prints one table; every ratio in it
// comes from this one run, and ends with the goal line of issue 13 (rescore_leads_per_s: the
// slowest of the three rescores) next to plain Postgres' rate for the same rows (every lead's
// score updated with Beacon's triggers off). Not a test: nothing here passes or fails on time.
//
//   deno run -A --env-file=scripts/local/functions.env scripts/local/bench/scoring.ts [--leads 1000000]
//
// What it measures, each step in its own transaction:
//   import        one insert of every lead (the row trigger scores each, the statement
//                 trigger ledgers their default-rule points)
//   20 rules      the 20 rules added: every lead evaluated against 20 new rules
//   1 rule        one rule's points changed: every lead against it, once (for the difference)
//   1 narrow rule one rule that 2.7 % of the leads match changed: few scores to write
//   20 rules      every rule's points changed: every lead against the 20 rules, once each
//   plain         one update of every lead's score with the table's triggers off (rolled back)
// Throughput is the owner's leads over the step's time: every lead is considered by a rescore,
// whether or not its score changes. How many scores were written, at what rate, and how many
// of those row versions were HOT (pg_stat_xact_user_tables, the step's own transaction) is
// in the detail column.
// Rules are written and rescored in the same transaction, so the pg_cron job never sees a
// pending request and never competes for the owner's lock.
import { parseArgs } from "node:util";
import { asService, sql } from "../../../supabase/functions/_shared/db.ts";
import { printGoal } from "./output.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: { leads: { type: "string", default: "1000000" } },
});
const leads = Number(values.leads);
if (!(Number.isInteger(leads) && leads > 0)) {
  console.error("usage: scripts/bench scoring [--leads N]");
  Deno.exit(2);
}

const seconds = (ms: number) => `${(ms / 1000).toFixed(2)} s`;
const number = (n: number) => Math.round(n).toLocaleString("en-US");
const step = (text: string) => console.error(`bench: ${text}`);

// Twenty profile rules, every kind, matching different shares of the leads.
const rules: [string, Record<string, unknown>, number][] = [
  ["has first name", { type: "field_present", field: "first_name" }, 1],
  ["has last name", { type: "field_present", field: "last_name" }, 1],
  ["has source", { type: "field_present", field: "source" }, 1],
  ["from a webinar", { type: "field_equals", field: "source", value: "webinar" }, 8],
  ["from ads", { type: "field_equals", field: "source", value: "ads" }, 2],
  ["company form", { type: "field_matches", field: "company", pattern: "(inc|ltd)\\.?$" }, 3],
  ["executive address", { type: "field_matches", field: "email", pattern: "^(ceo|cto|vp)" }, 10],
  ["business email", { type: "email_domain", free_mail: false }, 10],
  ["free mail", { type: "email_domain", free_mail: true }, -10],
  ["key accounts", { type: "email_domain", domains: ["corp1.example", "corp2.example"] }, 25],
  ["vip", { type: "tag_present", tag: "vip" }, 20],
  ["b2b", { type: "tag_present", tag: "b2b" }, 5],
  ["churned", { type: "tag_present", tag: "churned" }, -30],
  ["100+ people", { type: "custom_field", key: "employees", op: "gte", value: 100 }, 15],
  ["tiny", { type: "custom_field", key: "employees", op: "lt", value: 10 }, -5],
  ["paying", { type: "custom_field", key: "plan", op: "in", value: ["pro", "team"] }, 12],
  ["technical buyer", { type: "custom_field", key: "role", op: "eq", value: "CTO" }, 9],
  ["on a trial", { type: "custom_field", key: "trial", op: "exists" }, 4],
  ["software", { type: "custom_field", key: "industry", op: "contains", value: "soft" }, 6],
  ["no industry", { type: "custom_field", key: "industry", op: "not_exists" }, -2],
];

const userId = crypto.randomUUID();
type Row = [string, string, string, string];
type Tx = Parameters<Parameters<typeof asService>[0]>[0];
const rows: Row[] = [];
const rescoreRates: number[] = [];

try {
  step(`creating a bench user and importing ${number(leads)} leads`);
  const t0 = performance.now();
  await asService(async (tx) => {
    await tx`insert into auth.users (id, email) values (${userId}, ${`bench-${userId}@example.test`})`;
    await tx`
      insert into public.leads (user_id, email, first_name, last_name, company, phone, source, tags, custom_fields)
      select
        ${userId},
        (array['ceo', 'sales', 'ana', 'cto', 'bob'])[1 + n % 5] || n || '@'
          || case when n % 3 = 0 then 'gmail.com' else 'corp' || (n % 50) || '.example' end,
        'First' || n,
        case when n % 2 = 0 then 'Last' || n end,
        case when n % 2 = 0 then 'Company ' || (n % 997) || (array[' Inc', ' Ltd.', ' GmbH'])[1 + n % 3] end,
        case when n % 5 = 0 then '+1 555 ' || lpad((n % 10000)::text, 4, '0') end,
        (array['webinar', 'ads', 'referral', null])[1 + n % 4],
        (array['{vip}', '{b2b}', '{}', '{b2b,churned}', '{}'])[1 + n % 5]::text[],
        jsonb_strip_nulls(jsonb_build_object(
          'employees', n % 500,
          'plan', (array['free', 'pro', 'team'])[1 + n % 3],
          'role', (array['CTO', 'CEO', 'Engineer', 'Marketer'])[1 + n % 4],
          'trial', case when n % 6 = 0 then true end,
          'industry', (array['Software', 'Retail', null])[1 + n % 3]))
      from generate_series(1, ${leads}) as n`;
  });
  const importMs = performance.now() - t0;
  rows.push([
    "import: insert … select of every lead",
    seconds(importMs),
    `${number(leads / (importMs / 1000))} leads/s`,
    "",
  ]);

  // The share of this transaction's lead updates that were HOT (no index entry written).
  const hotShare = async (tx: Tx) => {
    const [{ updated, hot }] = await tx`
      select n_tup_upd::int as updated, n_tup_hot_upd::int as hot
      from pg_stat_xact_user_tables where relid = 'public.leads'::regclass`;
    return `${updated ? Math.round((100 * hot) / updated) : 0} % HOT`;
  };

  const rescore = async (
    label: string,
    change: (tx: Tx) => Promise<unknown>,
  ) => {
    step(label);
    const result = await asService(async (tx) => {
      await change(tx);
      const started = performance.now();
      const [{ rescored }] = await tx`select private.rescore_leads(${userId}) as rescored`;
      const ms = performance.now() - started;
      const [{ changes, ledgered }] = await tx`
        select
          (select count(*)::int from public.scoring_rule_changes
           where user_id = ${userId} and created_at = now()) as changes,
          (select count(*)::int from public.lead_score_ledger
           where user_id = ${userId} and created_at = now() and source = 'rule') as ledgered`;
      return {
        ms,
        rescored: rescored as number,
        changes: changes as number,
        ledgered: ledgered as number,
        hot: await hotShare(tx),
      };
    });
    rescoreRates.push(leads / (result.ms / 1000));
    const written = `${number(result.rescored / (result.ms / 1000))}/s, ${result.hot}`;
    rows.push([
      label,
      seconds(result.ms),
      `${number(leads / (result.ms / 1000))} leads/s`,
      `${number(result.rescored)} scores changed (${written}), ${number(result.changes)} rule ` +
      `changes, ${number(result.ledgered)} lead ledger rows`,
    ]);
  };

  await rescore("rescore: 20 rules added", async (tx) => {
    for (const [name, condition, points] of rules) {
      await tx`insert into public.scoring_rules (user_id, name, condition, points)
               values (${userId}, ${name}, ${tx.json(condition as never)}, ${points})`;
    }
  });
  await rescore(
    "rescore: 1 rule changed (its points)",
    (tx) =>
      tx`update public.scoring_rules set points = 11 where user_id = ${userId} and name = 'business email'`,
  );
  await rescore(
    "rescore: 1 rule changed that 2.7 % of leads match",
    (tx) =>
      tx`update public.scoring_rules set points = 26 where user_id = ${userId} and name = 'key accounts'`,
  );
  await rescore(
    "rescore: all 20 rules changed",
    (tx) =>
      tx`update public.scoring_rules set points = points + sign(points)::int where user_id = ${userId}`,
  );

  // Plain Postgres: the same table, indexes and constraints, every score written once, no
  // trigger; rolled back (disabling triggers takes the table's lock for this transaction).
  step("plain Postgres: every score updated with the triggers off");
  class RolledBack extends Error {}
  let plainMs = 0;
  let plainHot = "";
  await asService(async (tx) => {
    await tx`alter table public.leads disable trigger user`;
    const started = performance.now();
    await tx`update public.leads set score = score + 1 where user_id = ${userId}`;
    plainMs = performance.now() - started;
    plainHot = await hotShare(tx);
    throw new RolledBack();
  }).catch((error) => {
    if (!(error instanceof RolledBack)) throw error;
  });
  rows.push([
    "plain Postgres: every score updated, triggers off",
    seconds(plainMs),
    `${number(leads / (plainMs / 1000))} leads/s`,
    `${number(leads)} scores changed (${plainHot})`,
  ]);

  const [check] = await asService((tx) =>
    tx`select
         count(*) filter (where l.score <> private.lead_profile_points(l))::int as wrong,
         round(avg(l.score), 1)::text as average
       from public.leads as l where l.user_id = ${userId}`
  );

  const header: Row = ["step", "time", "throughput", "detail"];
  const width = [0, 1, 2, 3].map((i) =>
    Math.max(header[i].length, ...rows.map((row) => row[i].length))
  );
  const line = (cells: string[]) =>
    `| ${cells.map((cell, i) => cell.padEnd(width[i])).join(" | ")} |`;
  console.log(
    `\nscoring benchmark: ${
      number(leads)
    } leads of one user, ${rules.length} profile rules of every kind`,
  );
  console.log(line(header));
  console.log(`|${width.map((w) => "-".repeat(w + 2)).join("|")}|`);
  for (const row of rows) console.log(line(row));
  console.log(
    `\nafter the run: average score ${check.average}; leads whose score differs from the per-row rule ` +
      `evaluation (private.lead_profile_points): ${check.wrong}`,
  );
  console.log();
  printGoal("rescore_leads_per_s", Math.min(...rescoreRates), ">=", 100000, {
    digits: 0,
    note: `slowest of ${rescoreRates.length} rescores of ${number(leads)} leads; plain Postgres ` +
      `(every score updated, triggers off): ${number(leads / (plainMs / 1000))} leads/s`,
  });
} finally {
  step("cleaning up");
  await asService((tx) => tx`delete from auth.users where id = ${userId}`);
  await sql.end();
}
