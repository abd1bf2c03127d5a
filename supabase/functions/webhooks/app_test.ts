// The Resend webhook endpoint: signatures (unsigned, forged, altered, stale, replayed) and
// what each event does to the delivery it is about. Events come from the fake Resend, signed
// the way Svix signs them, about messages it really received from the dispatcher.
import assert from "node:assert/strict";
import { asService, type UserClaims } from "../_shared/db.ts";
import { type ResendFake, type SentEmail, startResendFake } from "../_testing/fakes/resend.ts";
import {
  deliveries,
  dispatcherWith,
  resendEnv,
  scheduleCampaign,
  sentAgo,
  startSending,
} from "../_testing/email.ts";
import { createUser, dbTest, deleteUsers } from "../_testing/harness.ts";
import { createWebhooksApp } from "./app.ts";

type Setup = {
  fake: ResendFake;
  user: UserClaims;
  campaignId: string;
  sent: SentEmail[];
  post: (
    payload: unknown,
    sign?: Parameters<ResendFake["signatureHeaders"]>[1],
  ) => Promise<Response>;
};

/** Messages to `count` fresh addresses sent through the fake, and a way to post its events. */
async function withSent(
  label: string,
  count: number,
  work: (setup: Setup) => Promise<void>,
) {
  const fake = startResendFake();
  const user = await createUser(label);
  const app = createWebhooksApp(fake.webhookSecret);
  try {
    const tag = crypto.randomUUID().slice(0, 8);
    const addresses = Array.from(
      { length: count },
      (_, i) => `${label}${i}-${tag}@example.com`,
    );
    const campaignId = await scheduleCampaign(user, {
      recipient_list: addresses,
    });
    assert.equal(await startSending(campaignId), "sending");
    await dispatcherWith(resendEnv(fake.url)).run();
    const sent = addresses.map((address) => fake.sentTo(address)[0]);
    assert.ok(sent.every(Boolean));
    const post = async (
      payload: unknown,
      sign?: Parameters<ResendFake["signatureHeaders"]>[1],
    ) => {
      const body = typeof payload === "string" ? payload : JSON.stringify(payload);
      return await app.request("/webhooks/resend", {
        method: "POST",
        headers: {
          "content-type": "application/json",
          ...fake.signatureHeaders(body, sign),
        },
        body,
      });
    };
    await work({ fake, user, campaignId, sent, post });
  } finally {
    await deleteUsers(user);
    await fake.close();
  }
}

const answer = async (res: Response) => ({
  status: res.status,
  body: await res.json(),
});

dbTest(
  "unsigned, forged, altered and stale deliveries are refused with 401",
  () =>
    withSent("sig", 1, async ({ fake, campaignId, sent, post }) => {
      const app = createWebhooksApp(fake.webhookSecret);
      const event = fake.event("email.delivered", sent[0].id);
      const body = JSON.stringify(event);

      const unsigned = await answer(
        await app.request("/webhooks/resend", { method: "POST", body }),
      );
      assert.equal(unsigned.status, 401);
      assert.match(unsigned.body.message, /not signed/);

      const forged = await answer(
        await post(event, {
          secret: "whsec_" + btoa("another endpoint's secret"),
        }),
      );
      assert.equal(forged.status, 401);
      assert.match(forged.body.message, /does not match/);

      const headers = fake.signatureHeaders(body);
      const altered = await answer(
        await app.request("/webhooks/resend", {
          method: "POST",
          headers,
          body: body.replace("email.delivered", "email.complained"),
        }),
      );
      assert.equal(altered.status, 401, "the body was changed after signing");

      const minutes = (n: number) => new Date(Date.now() + n * 60_000);
      for (const at of [minutes(-6), minutes(6)]) {
        const stale = await answer(await post(event, { timestamp: at }));
        assert.equal(stale.status, 401);
        assert.match(stale.body.message, /more than 5 minutes/);
      }
      const [untouched] = await deliveries(campaignId);
      assert.equal(
        untouched.delivered_at,
        null,
        "nothing refused was recorded",
      );

      const late = await answer(await post(event, { timestamp: minutes(-4) }));
      assert.equal(late.status, 200, "within the 5-minute tolerance");
      assert.equal(late.body.recorded, "delivered");
    }),
);

dbTest(
  "each svix-id is processed once: a replay changes nothing",
  () =>
    withSent("replay", 1, async ({ fake, user, campaignId, sent, post }) => {
      await sentAgo(campaignId, "1 hour");
      const click = fake.event("email.clicked", sent[0].id, {
        click: { link: "https://example.com/news" },
      });
      const id = `msg_${crypto.randomUUID().replaceAll("-", "")}`;
      const first = await answer(await post(click, { id }));
      assert.deepEqual(first.body, {
        recorded: "clicked",
        delivery_id: (await deliveries(campaignId))[0].id,
      });
      const again = await answer(await post(click, { id }));
      assert.deepEqual(again, { status: 200, body: { duplicate: true } });
      const clicks = await asService((tx) =>
        tx`select count(*)::int as n from public.analytics_events
         where user_id = ${user.sub} and event_name = 'email_clicked'`
      );
      assert.equal(clicks[0].n, 1);
    }),
);

dbTest(
  "delivery events update the delivery, its status and the suppression list",
  () =>
    withSent("events", 4, async ({ fake, user, campaignId, sent, post }) => {
      const [delivered, hard, soft, complaint] = sent;
      const ok = async (payload: unknown) => {
        const res = await answer(await post(payload));
        assert.equal(res.status, 200, JSON.stringify(res.body));
        return res.body;
      };
      await ok(fake.event("email.sent", delivered.id));
      await ok(fake.event("email.delivery_delayed", delivered.id));
      await ok(fake.event("email.delivered", delivered.id));
      await ok(
        fake.event("email.bounced", hard.id, { bounceType: "Permanent" }),
      );
      await ok(
        fake.event("email.bounced", soft.id, { bounceType: "Transient" }),
      );
      await ok(fake.event("email.delivered", complaint.id));
      await ok(fake.event("email.complained", complaint.id));

      const rows = new Map(
        (await deliveries(campaignId)).map((row) => [row.email, row]),
      );
      const of = (email: SentEmail) => rows.get(email.to[0])!;
      assert.equal(of(delivered).status, "delivered");
      assert.ok(of(delivered).delivered_at);
      assert.equal(of(hard).status, "bounced");
      assert.ok(of(hard).bounced_at);
      assert.equal(of(soft).status, "bounced");
      assert.equal(of(complaint).status, "complained");
      assert.ok(of(complaint).complained_at);

      const suppressed = await asService((tx) =>
        tx`select email, reason from public.email_suppressions
         where user_id = ${user.sub} order by reason`
      );
      assert.deepEqual([...suppressed], [
        { email: complaint.to[0], reason: "complaint" },
        { email: hard.to[0], reason: "hard_bounce" },
      ], "a soft bounce does not suppress the address");
    }),
);

dbTest(
  "opens and clicks Resend reports are flagged as machine or human",
  () =>
    withSent("engage", 2, async ({ fake, campaignId, sent, post }) => {
      const [early, late] = sent;
      const rows = async () =>
        new Map((await deliveries(campaignId)).map((row) => [row.email, row]));
      // Within seconds of sending: a scanner's open and click.
      await post(fake.event("email.opened", early.id));
      await post(
        fake.event("email.clicked", early.id, {
          click: { link: "https://example.com/news" },
        }),
      );
      let row = (await rows()).get(early.to[0])!;
      assert.ok(row.opened_at && row.clicked_at);
      assert.equal(row.human_opened_at, null);
      assert.equal(row.human_clicked_at, null);

      // An hour later, a person; and a scanner by its user agent.
      await sentAgo(campaignId, "1 hour");
      await post(fake.event("email.opened", late.id));
      await post(fake.event("email.clicked", late.id, {
        click: {
          link: "https://example.com/news",
          userAgent: "python-requests/2.31",
        },
      }));
      row = (await rows()).get(late.to[0])!;
      assert.ok(row.human_opened_at);
      assert.equal(row.human_clicked_at, null);
      await post(
        fake.event("email.clicked", late.id, {
          click: { link: "https://example.com/news" },
        }),
      );
      row = (await rows()).get(late.to[0])!;
      assert.ok(row.human_clicked_at);
    }),
);

dbTest(
  "events find their delivery by Resend's email id when our tag is missing",
  () =>
    withSent("lookup", 1, async ({ fake, campaignId, sent, post }) => {
      const event = fake.event("email.delivered", sent[0].id);
      delete (event.data as { tags?: unknown }).tags;
      const res = await answer(await post(event));
      assert.equal(res.body.recorded, "delivered");
      assert.ok((await deliveries(campaignId))[0].delivered_at);

      const unknown = fake.event("email.delivered", sent[0].id);
      unknown.data.email_id = crypto.randomUUID();
      delete (unknown.data as { tags?: unknown }).tags;
      assert.deepEqual(await answer(await post(unknown)), {
        status: 200,
        body: { ignored: "no delivery of ours has this email" },
      });
      assert.deepEqual(
        await answer(
          await post({
            type: "contact.created",
            created_at: new Date().toISOString(),
            data: {},
          }),
        ),
        { status: 200, body: { ignored: "contact.created is not tracked" } },
      );
    }),
);

dbTest(
  "a signed body that is not an event is a 400 naming the field",
  () =>
    withSent("shape", 1, async ({ fake, sent, post }) => {
      const event = fake.event("email.delivered", sent[0].id) as Record<
        string,
        unknown
      >;
      delete event.created_at;
      const res = await answer(await post(event));
      assert.equal(res.status, 400);
      assert.equal(res.body.fields[0].field, "body.created_at");
      const broken = await answer(await post("{not json"));
      assert.deepEqual(broken.status, 400);
      assert.equal(broken.body.error, "invalid_json");
    }),
);
