// The dispatcher against the real database and the fake Resend over real HTTP: campaigns
// created as their owner, fanned out by the cron tick, sent in chunks, every provider answer.
// pg_cron runs the same tick every minute meanwhile; nothing here depends on it not running.
import assert from "node:assert/strict";
import { type ResendFake, startResendFake } from "../_testing/fakes/resend.ts";
import {
  deliveries,
  dispatcherWith,
  makeReady,
  queueRows,
  resendEnv,
  scheduleCampaign,
  sendUnreported,
  startSending,
  tick,
} from "../_testing/email.ts";
import { asService, type UserClaims } from "../_shared/db.ts";
import { storeUserSecret } from "../_shared/secrets.ts";
import { createUser, dbTest, deleteUsers } from "../_testing/harness.ts";
import { campaignContents, claimBatch } from "./queries.ts";

const PLATFORM_KEY = "re_platform_key"; // as resendEnv sets it

/** `count` recipients with addresses no other test uses. */
const recipients = (label: string, count: number) =>
  Array.from({ length: count }, (_, i) => ({
    email: `${label}-${String(i).padStart(3, "0")}@${crypto.randomUUID().slice(0, 8)}.example`,
    first_name: i % 2 ? `Reader${i}` : undefined,
  }));

type Context = {
  fake: ResendFake;
  user: UserClaims;
  env: Record<string, string>;
};

/** A user, a fake Resend, and dispatch settings pointing at it with the platform key. */
async function withSetup(label: string, work: (ctx: Context) => Promise<void>) {
  const fake = startResendFake();
  const user = await createUser(label);
  const env = resendEnv(fake.url);
  try {
    await work({ fake, user, env });
  } finally {
    await deleteUsers(user);
    await fake.close();
  }
}

/** Schedules a campaign to `list` and starts it (fan-out), as the tick does. */
async function sendingCampaign(user: UserClaims, list: unknown[], extra = {}) {
  const id = await scheduleCampaign(user, { recipient_list: list, ...extra });
  assert.equal(await startSending(id), "sending");
  return id;
}

dbTest(
  "a campaign goes out in batches of 100, one Idempotency-Key per chunk",
  () =>
    withSetup("batches", async ({ fake, user, env }) => {
      const list = recipients("batch", 150);
      const id = await sendingCampaign(user, list);
      const report = await dispatcherWith(env).run();
      assert.equal(report.stopped, "drained");
      assert.equal(report.sent >= 150, true, JSON.stringify(report));

      const mine = fake.sent.filter((email) => list.some((r) => r.email === email.to[0]));
      assert.equal(mine.length, 150, "every recipient once");
      const keys = new Set(mine.map((email) => email.idempotencyKey));
      assert.equal(
        keys.size,
        2,
        "two chunks (100 + 50), each with its own key",
      );
      for (const key of keys) assert.match(key!, /^[0-9a-f]{64}$/);

      const rows = await deliveries(id);
      assert.ok(rows.every((row) => row.status === "sent" && row.sent_at && row.attempts === 1));
      const ids = new Map(mine.map((email) => [email.to[0], email.id]));
      assert.ok(rows.every((row) => row.provider_message_id === ids.get(row.email)));
      assert.deepEqual(await queueRows(id), []);

      const email = mine.find((e) => e.to[0] === list[1].email)!;
      assert.equal(email.apiKey, PLATFORM_KEY);
      assert.equal(
        email.from,
        "Beacon Demo <demo@beacon.local>",
        "BEACON_EMAIL_FROM",
      );
      assert.equal(email.subject, "Hello Reader1");
      assert.equal(
        mine.find((e) => e.to[0] === list[0].email)!.subject,
        "Hello there",
      );
      assert.equal(
        email.headers["List-Unsubscribe-Post"],
        "List-Unsubscribe=One-Click",
      );
      assert.match(
        email.headers["List-Unsubscribe"],
        /^<http:\/\/.+\/functions\/v1\/track\/unsubscribe\/[^>]+>$/,
      );
      assert.equal(email.tags.beacon_campaign, id);
      assert.equal(
        email.tags.beacon_delivery,
        rows.find((r) => r.email === list[1].email)!.id,
      );
      assert.match(email.html!, /Beacon Demo Ltd, 1 Example Street/);
      assert.match(email.text!, /Unsubscribe: http/);

      await tick();
      const [campaign] = await asService((tx) =>
        tx`select status, metrics from public.email_campaigns where id = ${id}`
      );
      assert.equal(campaign.status, "sent");
      assert.equal(campaign.metrics.sent, 150);
      assert.equal(campaign.metrics.recipients, 150);
    }),
);

dbTest(
  "the user's own RESEND_API_KEY is used before the platform's",
  () =>
    withSetup("ownkey", async ({ fake, user, env }) => {
      await storeUserSecret(user.sub, "RESEND_API_KEY", "re_users_own_key");
      const list = recipients("own", 2);
      await sendingCampaign(user, list);
      await dispatcherWith(env).run();
      const mine = fake.sent.filter((email) => list.some((r) => r.email === email.to[0]));
      assert.deepEqual(mine.map((email) => email.apiKey), [
        "re_users_own_key",
        "re_users_own_key",
      ]);
    }),
);

dbTest(
  "with no Resend key at all, messages go to the outbox and never to the network",
  () =>
    withSetup("outbox", async ({ fake, user, env }) => {
      const dir = await Deno.makeTempDir({ prefix: "beacon-outbox-" });
      try {
        const list = recipients("outbox", 3);
        const id = await sendingCampaign(user, list);
        const report = await dispatcherWith({
          ...env,
          RESEND_API_KEY: "",
          BEACON_OUTBOX_DIR: dir,
        }).run();
        assert.ok(report.to_outbox >= 3);
        assert.equal(fake.requests.batch, 0, "nothing was sent to Resend");
        const rows = await deliveries(id);
        assert.ok(rows.every((row) => row.status === "sent"));
        assert.deepEqual(
          rows.map((row) => row.provider_message_id),
          rows.map((r) => `outbox-${r.id}`),
        );
        const files = [...Deno.readDirSync(`${dir}/${id}`)].map((entry) => entry.name).sort();
        assert.deepEqual(files, list.map((r) => `${r.email}.eml`).sort());
        const eml = await Deno.readTextFile(
          `${dir}/${id}/${list[1].email}.eml`,
        );
        assert.match(eml, /\r\nSubject: Hello Reader1\r\n/);
        assert.match(
          eml,
          /\r\nList-Unsubscribe-Post: List-Unsubscribe=One-Click\r\n/,
        );
      } finally {
        await Deno.remove(dir, { recursive: true });
      }
    }),
);

dbTest(
  "429 with a short retry-after is waited out within the run",
  () =>
    withSetup("ratelimit", async ({ fake, user, env }) => {
      const list = recipients("rl", 2);
      const id = await sendingCampaign(user, list);
      fake.failNext("batch", { kind: "rate_limited", retryAfter: 1 });
      const started = Date.now();
      const report = await dispatcherWith(env).run();
      assert.ok(
        Date.now() - started >= 1000,
        `it waited retry-after: ${JSON.stringify(report)}`,
      );
      assert.equal(report.provider_calls, 2);
      assert.ok((await deliveries(id)).every((row) => row.status === "sent"));
    }),
);

dbTest(
  "429 with a long retry-after puts the chunk back until then",
  () =>
    withSetup("ratelimit-long", async ({ fake, user, env }) => {
      const list = recipients("rll", 2);
      const id = await sendingCampaign(user, list);
      fake.failNext("batch", { kind: "rate_limited", retryAfter: 300 });
      const before = Date.now();
      await dispatcherWith(env).run();
      const rows = await deliveries(id);
      assert.ok(rows.every((row) => row.status === "queued"));
      assert.match(rows[0].last_error!, /429 rate_limit_exceeded/);
      const queue = await queueRows(id);
      assert.equal(queue.length, 2);
      for (const row of queue) {
        assert.ok(
          row.run_after.getTime() >= before + 299_000,
          `run_after ${row.run_after.toISOString()}`,
        );
        assert.equal(row.lease_until, null);
        assert.equal(row.attempts, 1);
      }
      assert.equal(
        fake.sent.filter((e) => list.some((r) => r.email === e.to[0])).length,
        0,
      );
    }),
);

dbTest(
  "5xx and network errors retry with backoff; the send then goes through once",
  () =>
    withSetup("retry", async ({ fake, user, env }) => {
      const list = recipients("retry", 3);
      const id = await sendingCampaign(user, list);
      fake.failNext("batch", { kind: "server_error" });
      const before = Date.now();
      await dispatcherWith(env).run();
      let rows = await deliveries(id);
      assert.ok(rows.every((row) => row.status === "queued"));
      assert.match(
        rows[0].last_error!,
        /Resend answered 500 application_error/,
      );
      const [first] = await queueRows(id);
      const wait = first.run_after.getTime() - before;
      assert.ok(
        wait >= 29_000 && wait <= 38_500,
        `backoff after the first attempt: ${wait} ms`,
      );

      // Then the network: nothing listens where Resend should be.
      await makeReady(id);
      const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
      const nowhere = `http://127.0.0.1:${listener.addr.port}`;
      listener.close();
      await dispatcherWith({ ...env, RESEND_API_URL: nowhere }).run();
      rows = await deliveries(id);
      assert.ok(rows.every((row) => row.status === "queued"));
      assert.match(rows[0].last_error!, /Resend could not be reached/);

      await makeReady(id);
      await dispatcherWith(env).run();
      rows = await deliveries(id);
      assert.ok(
        rows.every((row) => row.status === "sent" && row.attempts === 3),
      );
      assert.equal(
        fake.sent.filter((e) => list.some((r) => r.email === e.to[0])).length,
        3,
      );
    }),
);

dbTest(
  "a lost answer (sent, then 500) is replayed on retry: one delivery per recipient",
  () =>
    withSetup("lost", async ({ fake, user, env }) => {
      const list = recipients("lost", 4);
      const id = await sendingCampaign(user, list);
      fake.failNext("batch", { kind: "lost_response" });
      await dispatcherWith(env).run();
      assert.ok((await deliveries(id)).every((row) => row.status === "queued"));
      await makeReady(id);
      await dispatcherWith(env).run();
      const mine = fake.sent.filter((e) => list.some((r) => r.email === e.to[0]));
      assert.equal(mine.length, 4, "Resend sent each message once");
      const rows = await deliveries(id);
      assert.deepEqual(
        rows.map((row) => row.provider_message_id),
        rows.map((row) => mine.find((e) => e.to[0] === row.email)!.id),
        "the replayed answer's ids are recorded",
      );
    }),
);

dbTest(
  "a validation error fails that recipient with Resend's message; the rest are sent",
  () =>
    withSetup("invalid", async ({ fake, user, env }) => {
      const bad = `a<b@${crypto.randomUUID().slice(0, 8)}.example`;
      const list = [...recipients("valid", 2), { email: bad }];
      const id = await sendingCampaign(user, list);
      await dispatcherWith(env).run();
      const rows = await deliveries(id);
      const refused = rows.find((row) => row.email === bad)!;
      assert.equal(refused.status, "failed");
      assert.match(
        refused.last_error!,
        /^Resend refused it: Invalid `to` field/,
      );
      assert.deepEqual(
        rows.filter((row) => row.email !== bad).map((row) => row.status),
        ["sent", "sent"],
      );

      // A refusal of the whole batch fails every message in it, with the provider's words.
      const other = recipients("whole", 2);
      const second = await sendingCampaign(user, other);
      fake.failNext("batch", {
        kind: "validation_error",
        message: "The `from` domain is not verified.",
      });
      await dispatcherWith(env).run();
      for (const row of await deliveries(second)) {
        assert.equal(row.status, "failed");
        assert.equal(
          row.last_error,
          "Resend answered 422 validation_error: The `from` domain is not verified.",
        );
      }
      assert.deepEqual(await queueRows(second), []);
    }),
);

dbTest(
  "a claim carries each campaign's content, read once per campaign, and drops a gone campaign",
  () =>
    withSetup("content", async ({ user }) => {
      const first = await sendingCampaign(user, recipients("content-a", 150), {
        subject: "First for {{first_name|you}}",
        from_name: "First sender",
      });
      const second = await sendingCampaign(user, recipients("content-b", 3), {
        subject: "Second",
      });
      const read = campaignContents();
      const asked: string[] = [];
      const claimed = await claimBatch("content-worker", 100, 1, (id) => {
        asked.push(id);
        return read(id);
      });
      const mine = claimed.filter((row) => row.user_id === user.sub);
      assert.equal(mine.length, 153, "both campaigns' chunks were claimed");
      assert.deepEqual(
        asked.filter((id) => id === first || id === second).sort(),
        [first, second].sort(),
        "each campaign's content was asked for once, not per member or per chunk",
      );
      for (const row of mine) {
        const expected = row.email_campaign_id === first
          ? {
            subject: "First for {{first_name|you}}",
            from_name: "First sender",
          }
          : { subject: "Second", from_name: null };
        assert.deepEqual(
          { subject: row.subject, from_name: row.from_name },
          expected,
        );
        assert.match(row.content, /the news/);
      }

      // A campaign gone between the claim and the content read leaves no row to send; its
      // members are reported failed (here the campaign is still there, so that shows).
      await new Promise((resolve) => setTimeout(resolve, 1100));
      const again = await claimBatch(
        "content-worker-2",
        100,
        1,
        (id) => id === second ? Promise.resolve(null) : read(id),
      );
      const left = again.filter((row) => row.user_id === user.sub);
      assert.equal(left.length, 150);
      assert.ok(left.every((row) => row.email_campaign_id === first));
      assert.deepEqual(
        (await deliveries(second)).map((row) => `${row.status} ${row.last_error}`),
        Array(3).fill("failed the campaign is gone"),
      );

      // Content that cannot be read: the claim fails, and what it claimed goes back to the
      // queue at once (not after its lease), with the reason.
      await new Promise((resolve) => setTimeout(resolve, 1100));
      await assert.rejects(
        claimBatch("content-worker-3", 100, 60, () => Promise.reject(new Error("boom"))),
        /boom/,
      );
      const queued = await queueRows(first);
      assert.equal(queued.length, 150);
      assert.ok(queued.every((row) => row.lease_until === null), "released, not leased");
      assert.ok(
        (await deliveries(first)).every((row) =>
          row.last_error === "the campaign's content could not be read: boom"
        ),
      );
    }),
);

dbTest(
  "a crash between sending and recording does not send twice",
  () =>
    withSetup("crash", async ({ fake, user, env }) => {
      const list = recipients("crash", 5);
      const id = await sendingCampaign(user, list);
      // A worker claims the chunk, sends it, and dies before reporting.
      const claimed = (await claimBatch("doomed-worker", 50, 1, campaignContents())).filter((
        row,
      ) => row.email_campaign_id === id);
      assert.equal(claimed.length, 5);
      const sent = await sendUnreported(claimed, env, fake.url);
      assert.ok(
        "results" in sent && sent.results.every((r) => r.outcome === "sent"),
      );
      assert.ok(
        (await deliveries(id)).every((row) => row.status === "queued"),
        "never recorded",
      );

      // Its lease runs out; the next run claims the same chunk, with the same key.
      await new Promise((resolve) => setTimeout(resolve, 1100));
      await dispatcherWith(env).run();
      const mine = fake.sent.filter((e) => list.some((r) => r.email === e.to[0]));
      assert.equal(mine.length, 5, "Resend delivered each message once");
      assert.equal(fake.requests.batch, 2, "the chunk was posted twice");
      assert.ok(mine.every((e) => e.idempotencyKey === claimed[0].chunk_key));
      const rows = await deliveries(id);
      assert.ok(
        rows.every((row) => row.status === "sent" && row.attempts === 2),
      );
      assert.deepEqual(
        rows.map((row) => row.provider_message_id),
        rows.map((row) => mine.find((e) => e.to[0] === row.email)!.id),
      );
    }),
);

dbTest(
  "five failed attempts dead-letter a delivery with the last error",
  () =>
    withSetup("dead", async ({ fake, user, env }) => {
      const list = recipients("dead", 1);
      const id = await sendingCampaign(user, list);
      const dispatcher = dispatcherWith(env);
      for (let attempt = 1; attempt <= 5; attempt++) {
        fake.failNext("batch", { kind: "server_error", status: 502 });
        await makeReady(id);
        await dispatcher.run();
      }
      const [row] = await deliveries(id);
      assert.equal(row.status, "failed");
      assert.equal(
        row.last_error,
        "gave up after 5 attempts: Resend answered 502 application_error: An unexpected error occurred.",
      );
      assert.deepEqual(await queueRows(id), []);
      await tick();
      const [campaign] = await asService((tx) =>
        tx`select status, metrics from public.email_campaigns where id = ${id}`
      );
      assert.equal(campaign.status, "failed");
      assert.equal(campaign.metrics.failed, 1);
    }),
);

dbTest(
  "the platform's key sends as a verified domain, and never as one the owner no longer has",
  () =>
    withSetup("senders", async ({ fake, user, env }) => {
      const kept = `${crypto.randomUUID().slice(0, 8)}.example`;
      const dropped = `${crypto.randomUUID().slice(0, 8)}.example`;
      await asService((tx) =>
        tx`insert into public.sending_domains (user_id, domain, status, provider_domain_id)
           values (${user.sub}, ${kept}, 'verified', ${"test-" + kept}),
                  (${user.sub}, ${dropped}, 'verified', ${"test-" + dropped})`
      );
      const good = recipients("kept", 1);
      const bad = recipients("dropped", 1);
      const goodId = await sendingCampaign(user, good, {
        from_email: `news@${kept}`,
        from_name: "Kept",
        reply_to: `team@${kept}`,
      });
      const badId = await sendingCampaign(user, bad, {
        from_email: `news@${dropped}`,
      });
      // Scheduled while verified; the owner removes the domain before it is sent.
      await asService((tx) => tx`delete from public.sending_domains where domain = ${dropped}`);

      await dispatcherWith(env).run();
      const [sent] = fake.sentTo(good[0].email);
      assert.equal(sent.from, `Kept <news@${kept}>`);
      assert.equal(sent.reply_to, `team@${kept}`);
      assert.equal((await deliveries(goodId))[0].status, "sent");

      assert.deepEqual(
        fake.sentTo(bad[0].email),
        [],
        "nothing left as the removed domain",
      );
      const [refused] = await deliveries(badId);
      assert.equal(refused.status, "failed");
      assert.match(
        refused.last_error!,
        new RegExp(
          `^from_email news@${dropped} is not on a sending domain the owner has verified`,
        ),
      );
    }),
);
