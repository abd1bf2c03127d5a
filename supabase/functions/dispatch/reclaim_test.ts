// Exactly once on the edges (issue 8, §4): a chunk's members and Idempotency-Key are fixed at
// its first claim. A worker claims a chunk and dies (after sending, or before); meanwhile one
// member is suppressed; the lease runs out and the dispatcher claims the chunk again: the
// same key, the suppressed member skipped, and the fake Resend, over real HTTP, receives each
// address once.
import assert from "node:assert/strict";
import { startResendFake } from "../_testing/fakes/resend.ts";
import {
  claimChunk,
  deliveries,
  dispatcherWith,
  queueRows,
  resendEnv,
  scheduleCampaign,
  sendUnreported,
  startSending,
} from "../_testing/email.ts";
import { asService, asUser } from "../_shared/db.ts";
import { createUser, dbTest, deleteUsers } from "../_testing/harness.ts";

/** The lease of every row of the campaign ran out a second ago. */
const expireLeases = (campaignId: string) =>
  asService((tx) =>
    tx`update private.email_queue set lease_until = now() - interval '1 second'
       where email_campaign_id = ${campaignId} and lease_until is not null`
  );

for (const crash of ["after sending", "before sending"] as const) {
  dbTest(
    `a chunk re-claimed after a suppression (the worker died ${crash}) keeps its key`,
    async () => {
      const fake = startResendFake();
      const owner = await createUser("reclaim");
      const env = resendEnv(fake.url);
      try {
        const domain = `${crypto.randomUUID().slice(0, 8)}.example`;
        const list = ["ann", "bob", "cy"].map((name) => `${name}@${domain}`);
        const campaignId = await scheduleCampaign(owner, {
          recipient_list: list,
        });
        assert.equal(await startSending(campaignId), "sending");

        // The first worker claims the chunk, (maybe) sends it, and dies before reporting.
        const first = await claimChunk(
          `first-${crypto.randomUUID()}`,
          campaignId,
        );
        assert.equal(first.length, 3);
        const key = first[0].chunk_key;
        assert.ok(first.every((row) => row.chunk_key === key));
        if (crash === "after sending") {
          const outcome = await sendUnreported(first, env, fake.url);
          assert.ok(
            "results" in outcome &&
              outcome.results.every((r) => r.outcome === "sent"),
          );
        }

        // Meanwhile bob unsubscribes; then the first worker's lease runs out.
        await asUser(
          owner,
          (tx) => tx`insert into public.email_suppressions (email) values (${list[1]})`,
        );
        await expireLeases(campaignId);
        assert.deepEqual(
          [
            ...new Set(
              (await queueRows(campaignId)).map((row) => row.chunk_key),
            ),
          ],
          [key],
          "the key is stored on the chunk's rows",
        );

        // A second worker claims it again: same key, bob skipped.
        const second = await claimChunk(
          `second-${crypto.randomUUID()}`,
          campaignId,
        );
        assert.deepEqual(second.map((row) => row.email).sort(), [
          list[0],
          list[2],
        ]);
        assert.ok(
          second.every((row) => row.chunk_key === key),
          "the same key as the first claim",
        );
        await expireLeases(campaignId);

        // The dispatcher sends what is left under that key.
        const report = await dispatcherWith(env).run();
        assert.equal(report.failed, 0, JSON.stringify(report));
        const mine = fake.sent.filter((email) => list.includes(email.to[0]));
        assert.deepEqual(
          mine.map((email) => email.to[0]).sort(),
          crash === "after sending" ? list : [list[0], list[2]],
          "each address received once (bob only if he was sent to before he unsubscribed)",
        );
        assert.ok(mine.every((email) => email.idempotencyKey === key));
        const calls = fake.calls.filter((call) => call.idempotencyKey === key);
        assert.deepEqual(
          calls.map((call) => `${call.status} ${call.name ?? ""}`.trim()),
          crash === "after sending" ? ["200", "409 invalid_idempotent_request"] : ["200"],
        );

        const rows = await deliveries(campaignId);
        assert.deepEqual(
          rows.map((row) => `${row.email} ${row.status}`),
          [`${list[0]} sent`, `${list[1]} suppressed`, `${list[2]} sent`],
        );
        if (crash === "after sending") {
          assert.ok(
            rows.every((row) => row.provider_message_id === null),
            "Resend's ids of the first send never reached us",
          );
        }
        assert.deepEqual(await queueRows(campaignId), []);
      } finally {
        await deleteUsers(owner);
        await fake.close();
      }
    },
  );
}
