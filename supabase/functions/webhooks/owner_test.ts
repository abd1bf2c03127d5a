// An owner who sends with their own RESEND_API_KEY gets their own webhook endpoint
// (/webhooks/resend/{user id}), verified with the signing secret they stored as
// RESEND_WEBHOOK_SECRET: their bounces suppress the address as the platform's do; a forged
// signature is refused; an event never reaches another owner's delivery.
import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { asService } from "../_shared/db.ts";
import { storeUserSecret } from "../_shared/secrets.ts";
import { startResendFake } from "../_testing/fakes/resend.ts";
import {
  deliveries,
  dispatcherWith,
  resendEnv,
  scheduleCampaign,
  startSending,
} from "../_testing/email.ts";
import { createUser, dbTest, deleteUsers } from "../_testing/harness.ts";
import { createWebhooksApp } from "./app.ts";

const newSecret = () =>
  `whsec_${Buffer.from(crypto.getRandomValues(new Uint8Array(24))).toString("base64")}`;

dbTest(
  "an owner's own webhook secret: their bounce suppresses the address; forgeries are refused",
  async () => {
    const fake = startResendFake();
    const app = createWebhooksApp(fake.webhookSecret);
    const owner = await createUser("ownhook");
    const other = await createUser("ownhook-other");
    const keyless = await createUser("ownhook-keyless");
    try {
      const ownerSecret = newSecret();
      const otherSecret = newSecret();
      await storeUserSecret(owner.sub, "RESEND_API_KEY", "re_owner_key");
      await storeUserSecret(owner.sub, "RESEND_WEBHOOK_SECRET", ownerSecret);
      await storeUserSecret(other.sub, "RESEND_WEBHOOK_SECRET", otherSecret);

      const address = `bounced-${crypto.randomUUID().slice(0, 8)}@example.com`;
      const campaignId = await scheduleCampaign(owner, {
        recipient_list: [address],
      });
      assert.equal(await startSending(campaignId), "sending");
      await dispatcherWith(resendEnv(fake.url)).run();
      const [email] = fake.sentTo(address);
      assert.equal(
        email.apiKey,
        "re_owner_key",
        "sent with the owner's own key",
      );

      const bounce = JSON.stringify(fake.event("email.bounced", email.id));
      const post = (path: string, secret: string, body = bounce) =>
        app.request(path, {
          method: "POST",
          headers: {
            "content-type": "application/json",
            ...fake.signatureHeaders(body, { secret }),
          },
          body,
        });
      const suppressed = () =>
        asService((tx) =>
          tx`select user_id, reason from public.email_suppressions where lower(email) = ${address}`
        );

      // Forgeries: the platform's secret, another owner's, an owner with none, a bad id.
      for (
        const [path, secret, status] of [
          [`/webhooks/resend/${owner.sub}`, fake.webhookSecret, 401],
          [`/webhooks/resend/${owner.sub}`, otherSecret, 401],
          [`/webhooks/resend`, ownerSecret, 401],
          [`/webhooks/resend/${keyless.sub}`, ownerSecret, 401],
          [`/webhooks/resend/not-a-user`, ownerSecret, 400],
        ] as const
      ) {
        const refused = await post(path, secret);
        assert.equal(
          refused.status,
          status,
          `${path} signed with another secret`,
        );
        await refused.body?.cancel();
      }
      assert.deepEqual(
        [...await suppressed()],
        [],
        "nothing refused was recorded",
      );

      // Another owner, signing correctly on their own endpoint, cannot reach this delivery.
      const foreign = await post(`/webhooks/resend/${other.sub}`, otherSecret);
      assert.equal(foreign.status, 200);
      assert.deepEqual(await foreign.json(), {
        ignored: "no delivery of ours has this email",
      });
      assert.deepEqual([...await suppressed()], []);

      const accepted = await post(`/webhooks/resend/${owner.sub}`, ownerSecret);
      assert.equal(accepted.status, 200);
      const [delivery] = await deliveries(campaignId);
      assert.deepEqual(await accepted.json(), {
        recorded: "bounced",
        delivery_id: delivery.id,
      });
      assert.equal(delivery.status, "bounced");
      assert.deepEqual(
        (await suppressed()).map((row) => ({ ...row })),
        [{ user_id: owner.sub, reason: "hard_bounce" }],
        "the hard bounce put the address on the owner's suppression list",
      );
    } finally {
      await deleteUsers(owner, other, keyless);
      await fake.close();
    }
  },
);
