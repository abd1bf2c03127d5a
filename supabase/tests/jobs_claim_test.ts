// Workers claiming jobs at the same instant, each on its own connection (pgTAP runs in one
// session and cannot show this): private.claim_jobs must never hand one job to two of them
// (`for update skip locked`), and every due job must be handed out.
import assert from "node:assert/strict";
import postgres from "postgres";
import { asService } from "../functions/_shared/db.ts";
import { createUser, dbTest, deleteUsers } from "../functions/_testing/harness.ts";

const JOBS = 2_000;
const WORKERS = 4;
const KIND = `test_claim_${crypto.randomUUID().slice(0, 8)}`;

/** One session per worker: concurrency between connections is what is under test. */
function workerConnection() {
  return postgres(Deno.env.get("SUPABASE_DB_URL")!, { max: 1, prepare: false, onnotice: () => {} });
}

dbTest("concurrent claimers never get the same job, and together get every due job", async () => {
  const owners = await Promise.all([createUser("jobs-a"), createUser("jobs-b")]);
  const workers = Array.from({ length: WORKERS }, workerConnection);
  try {
    await asService(async (tx) => {
      await tx`select private.register_job_kind(${KIND}, 3, 60)`;
      await tx`insert into private.jobs (kind, key, user_id)
               select ${KIND}, 'job-' || n, (array[${owners[0].sub}, ${
        owners[1].sub
      }]::uuid[])[1 + n % 2]
               from generate_series(1, ${JOBS}) as n`;
    });
    const holder = new Map<string, number>();
    for (let round = 0; round < 200 && holder.size < JOBS; round++) {
      const batches = await Promise.all(
        workers.map((sql, n) =>
          sql<{ id: string }[]>`select id::text from private.claim_jobs(${KIND}, ${
            20 + 10 * n
          }, ${`worker-${n}`})`
        ),
      );
      batches.forEach((rows, worker) => {
        for (const { id } of rows) {
          assert.equal(
            holder.get(id),
            undefined,
            `job ${id} went to workers ${holder.get(id)} and ${worker}`,
          );
          holder.set(id, worker);
        }
      });
    }
    assert.equal(holder.size, JOBS, "every job was claimed exactly once");
    assert.equal(new Set(holder.values()).size, WORKERS, "every worker got some of them");
  } finally {
    await Promise.all(workers.map((sql) => sql.end()));
    await deleteUsers(...owners);
    await asService((tx) => tx`delete from private.job_kinds where kind = ${KIND}`);
  }
});
