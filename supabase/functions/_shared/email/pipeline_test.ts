// The whole email path over real HTTP, every function served by the local gateway in its
// own process (as scripts/start serves them): a user creates a campaign → the cron tick fans
// it out → POST /functions/v1/dispatch → the fake Resend receives the batch → it posts signed
// webhooks to /functions/v1/webhooks/resend → a reader opens, clicks and unsubscribes through
// /functions/v1/track → the tick counts it all into email_campaigns.metrics.
import assert from "node:assert/strict";
import { localApiKey } from "../../../../scripts/local/keys.ts";
import { asService, asUser } from "../db.ts";
import { startResendFake } from "../../_testing/fakes/resend.ts";
import { createUser, dbTest, deleteUsers } from "../../_testing/harness.ts";
import {
  deliveries,
  scheduleCampaign,
  sentAgo,
  serveFunctions,
  tick,
  trackingUrls,
} from "../../_testing/email.ts";

const SAFARI =
  "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Safari/605.1.15";

dbTest(
  "campaign → tick → dispatch → Resend → webhooks → tracking → metrics, over HTTP",
  async () => {
    const fake = startResendFake();
    const functions = await serveFunctions({
      SUPABASE_DB_URL: Deno.env.get("SUPABASE_DB_URL")!,
      RESEND_API_KEY: "re_platform_key",
      RESEND_API_URL: fake.url,
      RESEND_WEBHOOK_SECRET: fake.webhookSecret,
      BEACON_RESEND_RATE: "1000",
    });
    const owner = await createUser("pipeline");
    try {
      // The owner's leads (two tagged "news") and a list mixing a selector with addresses.
      const tag = crypto.randomUUID().slice(0, 8);
      const address = (name: string) => `${name}@${tag}.example`;
      await asUser(
        owner,
        (tx) =>
          tx`insert into public.leads (email, first_name, tags)
         values (${address("ada")}, 'Ada', '{news}'), (${address("grace")}, 'Grace', '{news}'),
                (${address("alan")}, 'Alan', '{other}')`,
      );
      const campaignId = await scheduleCampaign(owner, {
        recipient_list: [
          { leads: { tags: ["news"] } },
          { email: address("bounced+1"), first_name: "Bo" },
          { email: address("complained+1") },
          { email: address("ADA"), first_name: "Duplicate" },
        ],
        subject: "News for {{first_name|you}}",
      });

      const summary = await tick();
      assert.equal(typeof summary.started, "number");
      const [started] = await asService((tx) =>
        tx`select status from public.email_campaigns where id = ${campaignId}`
      );
      assert.equal(started.status, "sending");

      const service = await localApiKey("service_role");
      const res = await fetch(`${functions.url}/dispatch`, {
        method: "POST",
        headers: {
          authorization: `Bearer ${service}`,
          "content-type": "application/json",
        },
        body: "{}",
      });
      const report = await res.json();
      assert.equal(res.status, 200, JSON.stringify(report));
      assert.ok(report.sent >= 4, JSON.stringify(report));

      const mine = fake.sent.filter((email) => email.to[0].endsWith(`@${tag}.example`));
      assert.deepEqual(
        mine.map((email) => email.to[0].toLowerCase()).sort(),
        [
          address("ada"),
          address("bounced+1"),
          address("complained+1"),
          address("grace"),
        ],
        "one message per address, alan not selected, ADA deduplicated",
      );
      assert.equal(
        new Set(mine.map((email) => email.idempotencyKey)).size,
        1,
        "one batch",
      );
      const ada = mine.find((email) => email.to[0].toLowerCase() === address("ada"))!;
      assert.equal(ada.subject, "News for Ada", "the lead's data wins");

      // Resend reports what happened, signed like Svix; a retried delivery is processed once.
      const hook = `${functions.url}/webhooks/resend`;
      const reported = await fake.reportDeliveries(hook, mine);
      assert.deepEqual(reported, { accepted: 9, refused: 0 });
      const replayId = `msg_${crypto.randomUUID().replaceAll("-", "")}`;
      const again = await fake.emit(
        hook,
        fake.event("email.delivered", ada.id),
        { id: replayId },
      );
      await again.body?.cancel();
      const replay = await fake.emit(
        hook,
        fake.event("email.delivered", ada.id),
        { id: replayId },
      );
      assert.deepEqual(await replay.json(), { duplicate: true });
      const unsigned = await fetch(hook, { method: "POST", body: "{}" });
      assert.equal(unsigned.status, 401);
      await unsigned.body?.cancel();

      // Ada reads it an hour later, clicks, and unsubscribes with one click.
      await sentAgo(campaignId, "1 hour");
      const links = trackingUrls(ada.html!);
      const open = await fetch(links.open, {
        headers: { "user-agent": SAFARI },
      });
      assert.equal(open.headers.get("content-type"), "image/gif");
      await open.body?.cancel();
      const click = await fetch(links.click, {
        headers: { "user-agent": SAFARI },
        redirect: "manual",
      });
      assert.equal(click.status, 302);
      assert.equal(click.headers.get("location"), "https://example.com/news");
      const unsubscribe = await fetch(links.unsubscribe, {
        method: "POST",
        headers: { "content-type": "application/x-www-form-urlencoded" },
        body: "List-Unsubscribe=One-Click",
      });
      assert.equal(unsubscribe.status, 200);
      await unsubscribe.body?.cancel();

      await tick();
      const [done] = await asService((tx) =>
        tx`select status, metrics from public.email_campaigns where id = ${campaignId}`
      );
      assert.equal(done.status, "sent");
      assert.deepEqual(done.metrics, {
        recipients: 4,
        sent: 4,
        delivered: 3,
        opened: 1,
        human_opened: 1,
        clicked: 1,
        human_clicked: 1,
        bounced: 1,
        complained: 1,
        unsubscribed: 1,
        failed: 0,
        suppressed: 0,
      });
      const rows = await deliveries(campaignId);
      assert.deepEqual(rows.map((row) => row.status), [
        "delivered",
        "bounced",
        "complained",
        "delivered",
      ]);

      // Never again: the unsubscribed, bounced and complained addresses are suppressed.
      const next = await scheduleCampaign(owner, {
        recipient_list: [
          { leads: { tags: ["news"] } },
          address("bounced+1"),
          address("complained+1"),
        ],
      });
      await tick();
      const statuses = new Map(
        (await deliveries(next)).map((
          row,
        ) => [row.email.toLowerCase(), row.status]),
      );
      assert.equal(statuses.get(address("ada")), "suppressed");
      assert.equal(statuses.get(address("bounced+1")), "suppressed");
      assert.equal(statuses.get(address("complained+1")), "suppressed");
      assert.equal(statuses.get(address("grace")), "queued");
    } finally {
      await deleteUsers(owner);
      await functions.stop();
      await fake.close();
    }
  },
);
