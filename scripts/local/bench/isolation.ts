// The isolation benchmark (scripts/bench isolation): what it costs a shared pg_cron job to keep
// one owner's failure from stopping the others (docs/security.md, "Background jobs, one at a
// time"). Measured on the nightly engagement decay, whose design is the project's usual one:
// one set-based statement for every owner, and owner by owner, each in a subtransaction, only
// when that statement fails. N owners with M leads each, every lead holding engagement points
// last decayed a week ago; each variant runs in its own transaction on the same rows and is
// rolled back:
//   - the job as it runs when nothing fails (one statement);
//   - the other design the issue names: owner by owner, each in a subtransaction, always;
//   - the job when one owner's rows fail the statement (a trigger poisons that owner's ledger
//     rows): the statement, undone, then owner by owner; the others' scores still decay.
// Not a test: nothing here passes or fails on time.
//
//   deno run -A --env-file=scripts/local/functions.env scripts/local/bench/isolation.ts \
//     [--owners 1000] [--leads 100] [--runs 3]
import { parseArgs } from "node:util";
import { asService, sql, type Tx } from "../../../supabase/functions/_shared/db.ts";
import { number, printTable } from "./output.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    owners: { type: "string", default: "1000" },
    leads: { type: "string", default: "100" },
    runs: { type: "string", default: "3" },
  },
});
const owners = Number(values.owners);
const leads = Number(values.leads);
const runs = Number(values.runs);
if (![owners, leads, runs].every((n) => Number.isInteger(n) && n > 0) || owners < 2) {
  console.error("usage: scripts/bench isolation [--owners N (>= 2)] [--leads N] [--runs N]");
  Deno.exit(2);
}
const step = (text: string) => console.error(`bench: ${text}`);
const median = (values: number[]) =>
  [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];

/** Thrown to roll a variant's transaction back once it is timed. */
class Undo extends Error {}

/**
 * Runs `work` in a transaction that is always rolled back; returns its time in ms and how many
 * leads it decayed (engagement rows stamped with the transaction's time).
 */
async function timedAndUndone(work: (tx: Tx) => Promise<unknown>): Promise<[number, number]> {
  let result: [number, number] = [0, 0];
  try {
    await asService(async (tx) => {
      const t0 = performance.now();
      await work(tx);
      const ms = performance.now() - t0;
      const [{ decayed }] = await tx`
        select count(*)::int as decayed from private.lead_engagement where decayed_at = now()`;
      result = [ms, decayed];
      throw new Undo();
    });
  } catch (error) {
    if (!(error instanceof Undo)) throw error;
  }
  return result;
}

const VARIANTS: [string, (tx: Tx) => Promise<unknown>][] = [
  [
    "one statement for every owner (the job, nothing failing)",
    (tx) => tx`select private.decay_engagement()`,
  ],
  ["owner by owner, each in a subtransaction (always)", (tx) =>
    tx`
      do $$
      declare owner uuid;
      begin
        for owner in select distinct e.user_id from private.lead_engagement as e loop
          begin
            perform private.decay_engagement_of(owner);
          exception when others then
            raise warning 'owner % failed: %', owner, sqlerrm;
          end;
        end loop;
      end $$`],
  ["one owner poisoned: the statement, then owner by owner", async (tx) => {
    await tx`
      create function private.bench_poison() returns trigger language plpgsql as $$
      begin
        raise exception 'bench: this owner''s rows fail';
      end $$`;
    await tx.unsafe(`
      create trigger bench_poison before insert on public.lead_score_ledger
      for each row when (new.user_id = '${ids[0]}') execute function private.bench_poison()`);
    await tx`select private.decay_engagement()`;
  }],
];

const ids: string[] = [];
try {
  step(`creating ${number(owners)} owners with ${number(leads)} leads each, engagement a week old`);
  await asService(async (tx) => {
    const made = await tx`
      insert into auth.users (id, email)
      select gen_random_uuid(), 'isolation-' || n || '@bench.test' from generate_series(1, ${owners}::int) as n
      returning id`;
    ids.push(...made.map((row) => row.id as string));
    // The leads are the benchmark's data, not its subject: their triggers (scoring, the
    // lead-change inbox) stay off while they are written.
    await tx`alter table public.leads disable trigger user`;
    await tx`
      insert into public.leads (user_id, email, score)
      select u.id, 'lead' || n || '@' || u.id || '.bench.test', 40
      from unnest(${ids}::uuid[]) as u (id), generate_series(1, ${leads}::int) as n`;
    await tx`alter table public.leads enable trigger user`;
    await tx`
      insert into private.lead_engagement (lead_id, user_id, points, decayed_at)
      select l.id, l.user_id, 40, now() - interval '7 days'
      from public.leads as l where l.user_id = any (${ids}::uuid[])`;
  });
  await sql`vacuum analyze public.leads, private.lead_engagement, public.lead_score_ledger`;

  const rows: string[][] = [];
  let baseline = 0;
  for (const [name, work] of VARIANTS) {
    const times: number[] = [];
    let changed = 0;
    for (let run = 0; run < runs; run++) {
      step(`${name}: run ${run + 1} of ${runs}`);
      const [ms, count] = await timedAndUndone(work);
      times.push(ms);
      changed = count;
    }
    const ms = median(times);
    baseline ||= ms;
    rows.push([
      name,
      `${(ms / 1000).toFixed(2)} s`,
      `${number((owners * leads) / (ms / 1000))} leads/s`,
      `${(ms / baseline).toFixed(2)}×`,
      number(changed),
    ]);
  }
  console.log(
    `isolation benchmark: engagement decay of ${number(owners)} owners × ${
      number(leads)
    } leads, median of ${runs} runs, each rolled back`,
  );
  printTable(["variant", "time", "rate", "vs one statement", "leads decayed"], rows);
} finally {
  if (ids.length > 0) await sql`delete from auth.users where id = any (${ids}::uuid[])`;
  await sql.end();
}
