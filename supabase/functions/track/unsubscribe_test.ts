// An unsubscribe is never lost: links in sent mail keep working after the sender deletes the
// campaign, and a one-click POST answers 200 and suppresses the address even when the
// owner's scoring rules and workflows throw.
import assert from "node:assert/strict";
import { asService, asUser, type UserClaims } from "../_shared/db.ts";
import { readTrackingSettings } from "../_shared/email/settings.ts";
import { type SentEmail, startResendFake } from "../_testing/fakes/resend.ts";
import {
  claimChunk,
  deliveries,
  dispatcherWith,
  resendEnv,
  scheduleCampaign,
  sendUnreported,
  startSending,
  trackingUrls,
  trackPath,
} from "../_testing/email.ts";
import { createUser, dbTest, deleteUsers } from "../_testing/harness.ts";
import { createTrackApp } from "./app.ts";

const app = createTrackApp(readTrackingSettings());

type Sent = {
  user: UserClaims;
  campaignId: string;
  email: SentEmail;
  address: string;
};

/** One message sent to a fresh lead of a fresh user; `prepare` runs before the send. */
async function withSentToLead(
  label: string,
  work: (sent: Sent) => Promise<void>,
  prepare: (user: UserClaims) => Promise<void> = async () => {},
) {
  const fake = startResendFake();
  const user = await createUser(label);
  try {
    const address = `${label}-${crypto.randomUUID().slice(0, 8)}@example.com`;
    await asUser(
      user,
      (tx) => tx`insert into public.leads (email) values (${address})`,
    );
    await prepare(user);
    const campaignId = await scheduleCampaign(user, {
      recipient_list: [{ leads: { tags: [] } }, address],
      from_name: "Ada's Newsletter",
    });
    assert.equal(await startSending(campaignId), "sending");
    await dispatcherWith(resendEnv(fake.url)).run();
    const email = fake.sentTo(address)[0];
    assert.ok(email, "the message was sent");
    await work({ user, campaignId, email, address });
  } finally {
    await deleteUsers(user);
    await fake.close();
  }
}

const oneClick = (url: string) =>
  app.request(trackPath(url), {
    method: "POST",
    headers: { "content-type": "application/x-www-form-urlencoded" },
    body: "List-Unsubscribe=One-Click",
  });

async function suppressions(user: UserClaims) {
  return [
    ...await asService((tx) =>
      tx`select email, reason from public.email_suppressions where user_id = ${user.sub}`
    ),
  ];
}

dbTest(
  "a campaign deleted after sending: its unsubscribe page and one-click POST still work",
  () =>
    withSentToLead("deleted", async ({ user, campaignId, email, address }) => {
      const { unsubscribe } = trackingUrls(email.html!);
      const deleted = await asUser(
        user,
        (tx) => tx`delete from public.email_campaigns where id = ${campaignId} returning id`,
      );
      assert.equal(deleted.length, 1, "the owner deleted the campaign");
      assert.equal(
        (await deliveries(campaignId)).length,
        0,
        "its deliveries are gone",
      );

      let res = await app.request(trackPath(unsubscribe));
      assert.equal(res.status, 200);
      const page = await res.text();
      assert.ok(page.includes(address), "the page names the address");
      assert.ok(page.includes("Ada&#39;s Newsletter"), "and the sender");

      res = await oneClick(unsubscribe);
      assert.equal(res.status, 200);
      assert.match(await res.text(), /You are unsubscribed/);
      assert.deepEqual(await suppressions(user), [{
        email: address,
        reason: "unsubscribed",
      }]);

      res = await oneClick(unsubscribe);
      assert.equal(res.status, 200, "a second one-click still answers 200");
      await res.body?.cancel();
    }),
);

dbTest(
  "a campaign deleted before its sent chunk was reported: its unsubscribe page and one-click POST still work",
  async () => {
    const fake = startResendFake();
    const user = await createUser("unreported");
    const worker = `doomed-${crypto.randomUUID()}`;
    try {
      const address = `unreported-${crypto.randomUUID().slice(0, 8)}@example.com`;
      const campaignId = await scheduleCampaign(user, {
        recipient_list: [address],
        from_name: "Ada's Newsletter",
      });
      assert.equal(await startSending(campaignId), "sending");
      // A worker claims the chunk and sends it; its report has not come back yet.
      const claimed = await claimChunk(worker, campaignId);
      assert.equal(claimed.length, 1);
      await sendUnreported(claimed, resendEnv(fake.url), fake.url);
      const email = fake.sentTo(address)[0];
      assert.ok(email, "the message was sent");
      assert.deepEqual(
        (await deliveries(campaignId)).map((d) => d.status),
        ["queued"],
        "and not reported",
      );

      const { unsubscribe } = trackingUrls(email.html!);
      const deleted = await asUser(
        user,
        (tx) => tx`delete from public.email_campaigns where id = ${campaignId} returning id`,
      );
      assert.equal(deleted.length, 1, "the owner deleted the campaign");

      let res = await app.request(trackPath(unsubscribe));
      assert.equal(res.status, 200);
      assert.ok(
        (await res.text()).includes(address),
        "the page names the address",
      );
      res = await oneClick(unsubscribe);
      assert.equal(res.status, 200);
      assert.match(await res.text(), /You are unsubscribed/);
      assert.deepEqual(await suppressions(user), [{
        email: address,
        reason: "unsubscribed",
      }]);
    } finally {
      await deleteUsers(user);
      await fake.close();
    }
  },
);

dbTest(
  "a broken scoring rule and a broken workflow do not stop a one-click unsubscribe",
  () =>
    withSentToLead(
      "broken",
      async ({ user, campaignId, email, address }) => {
        const { unsubscribe } = trackingUrls(email.html!);
        const res = await oneClick(unsubscribe);
        assert.equal(res.status, 200);
        assert.match(await res.text(), /You are unsubscribed/);
        assert.deepEqual(await suppressions(user), [{
          email: address,
          reason: "unsubscribed",
        }]);
        const [delivery] = await deliveries(campaignId);
        assert.ok(
          delivery.unsubscribed_at,
          "the delivery carries unsubscribed_at",
        );
        // Whatever failed waits for the tick with its reason (30_email_unsubscribe_durability
        // covers the retries); the unsubscribe does not wait for it.
        const pending = await asService((tx) =>
          tx`select last_error from private.email_unsubscribe_effects where delivery_id = ${delivery.id}`
        );
        for (const row of pending) {
          assert.ok(
            row.last_error,
            "a failed side effect keeps its reason",
          );
        }
      },
      // Both written as postgres, past their validators, as a bug or a superuser could.
      (user) =>
        asService(async (tx) => {
          await tx`alter table public.scoring_rules disable trigger check_condition`;
          await tx`insert into public.scoring_rules (user_id, name, points, condition)
                   values (${user.sub}, 'broken', 5, ${
            tx.json({
              type: "event",
              event_name: "email_unsubscribed",
              cap: 1.5,
              period: "day",
            })
          })`;
          await tx`alter table public.scoring_rules enable trigger check_condition`;
          const [workflow] = await tx`
            insert into public.workflows (user_id, name, trigger_config, action_config, is_active)
            values (${user.sub}, 'broken', ${
            tx.json({ type: "email_event", event: "unsubscribed" })
          },
                    ${tx.json({ steps: [{ type: "add_tag", tag: "gone" }] })}, true)
            returning id`;
          await tx`update private.workflow_triggers set conditions = ${tx.json({ statuses: "new" })}
                   where workflow_id = ${workflow.id}`;
        }),
    ),
);
