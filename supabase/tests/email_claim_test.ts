// Workers claiming email chunks at the same instant, each on its own connection (pgTAP runs
// in one session and cannot show this): private.claim_email_batch must never hand the same
// delivery to two of them, must hand out whole chunks, and after the leases run out must
// hand every chunk out again once, with the key it had the first time.
// The pg_cron tick may run meanwhile; it does not touch a campaign with work in the queue.
import assert from "node:assert/strict";
import postgres from "postgres";
import { asService } from "../functions/_shared/db.ts";
import { createUser, dbTest, deleteUsers } from "../functions/_testing/harness.ts";

const RECIPIENTS = 5_000; // 50 chunks of 100
const WORKERS = 4;
const PREFIX = `claim-test-${crypto.randomUUID().slice(0, 8)}`;

type Claimed = { delivery_id: string; chunk_key: string; email_campaign_id: string };

/** One session per worker: concurrency between connections is what is under test. */
function workerConnection() {
  return postgres(Deno.env.get("SUPABASE_DB_URL")!, {
    max: 1,
    prepare: false,
    onnotice: () => {},
  });
}

/** Every worker claims 1 to 3 chunks at the same time, round after round, until none is left. */
async function claimUntilEmpty(workers: postgres.Sql[], campaignId: string, round: string) {
  const claims: { worker: string; rows: Claimed[] }[] = [];
  for (let i = 0; i < 200; i++) {
    const batches = await Promise.all(workers.map(async (sql, n) => {
      const worker = `${PREFIX}-${round}-${n}`;
      const rows = await sql<Claimed[]>`
        select delivery_id, chunk_key, email_campaign_id
        from private.claim_email_batch(${worker}, ${1 + ((i + n) % 3)})`;
      return { worker, rows: rows.filter((row) => row.email_campaign_id === campaignId) };
    }));
    claims.push(...batches);
    const [{ ready }] = await asService((tx) =>
      tx`select count(*)::int as ready from private.email_queue
         where email_campaign_id = ${campaignId}
           and coalesce(lease_until, run_after) <= now()`
    );
    if (ready === 0) return claims;
  }
  throw new Error("the queue did not drain in 200 rounds");
}

function assertDisjointWholeChunks(claims: { worker: string; rows: Claimed[] }[]) {
  const holder = new Map<string, string>();
  for (const { worker, rows } of claims) {
    for (const row of rows) {
      const before = holder.get(row.delivery_id);
      assert.equal(
        before,
        undefined,
        `delivery ${row.delivery_id} went to ${before} and ${worker}`,
      );
      holder.set(row.delivery_id, worker);
    }
  }
  assert.equal(holder.size, RECIPIENTS, "every delivery was claimed exactly once");
  const sizes = new Map<string, number>();
  for (const { rows } of claims) {
    for (const row of rows) sizes.set(row.chunk_key, (sizes.get(row.chunk_key) ?? 0) + 1);
  }
  assert.deepEqual(
    [...new Set(sizes.values())],
    [100],
    "every chunk key covers one whole chunk of 100",
  );
  return sizes;
}

dbTest(
  "concurrent workers never claim the same delivery, and re-claim whole chunks with the same key",
  async () => {
    const owner = await createUser("claims");
    const workers = Array.from({ length: WORKERS }, workerConnection);
    let campaignId = "";
    try {
      const list = Array.from({ length: RECIPIENTS }, (_, i) => `reader${i}@claims.example`);
      // Scheduled for tomorrow so that the pg_cron tick leaves it alone; started by hand.
      const [campaign] = await asService((tx) =>
        tx`insert into public.email_campaigns (user_id, subject, content, recipient_list, status, send_at)
         values (${owner.sub}, 'Hello', 'Body', ${
          tx.json(list)
        }, 'scheduled', now() + interval '1 day')
         returning id`
      );
      campaignId = campaign.id;
      await asService((tx) =>
        tx`update public.email_campaigns set status = 'sending' where id = ${campaignId}`
      );

      const first = await claimUntilEmpty(workers, campaignId, "first");
      const firstKeys = assertDisjointWholeChunks(first);
      assert.equal(firstKeys.size, RECIPIENTS / 100);

      // Every worker crashed: the leases run out, and the chunks are claimed again, concurrently.
      await asService((tx) =>
        tx`update private.email_queue set lease_until = now() - interval '1 second'
         where email_campaign_id = ${campaignId}`
      );
      const second = await claimUntilEmpty(workers, campaignId, "second");
      const secondKeys = assertDisjointWholeChunks(second);
      assert.deepEqual(
        [...secondKeys.keys()].sort(),
        [...firstKeys.keys()].sort(),
        "the re-claimed chunks have the keys they had the first time",
      );
    } finally {
      // Rows of other campaigns these workers may have claimed go back as they were.
      await asService((tx) =>
        tx`update private.email_queue
         set lease_until = null, leased_by = null, attempts = greatest(attempts - 1, 0)
         where leased_by like ${PREFIX + "-%"} and email_campaign_id <> ${campaignId || null}::uuid`
      );
      await Promise.all(workers.map((sql) => sql.end()));
      await deleteUsers(owner);
    }
  },
);
