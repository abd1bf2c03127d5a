// Double opt-in end to end: a post to a double opt-in form leaves the lead unconfirmed and
// sends the confirmation email through the email pipeline (dispatch → the Resend fake); the
// lead gets no campaign email meanwhile; the link's page changes nothing, its button
// subscribes the lead (303 to the form's confirm_url) and records the confirmation; posting
// again re-sends, at most every 5 minutes; suppressed addresses get nothing; expired and
// changed links are refused.
import assert from "node:assert/strict";
import { asService, asUser, type UserClaims } from "../_shared/db.ts";
import { signConfirmToken } from "../_shared/email/confirm_tokens.ts";
import { type ResendFake, startResendFake } from "../_testing/fakes/resend.ts";
import {
  deliveries,
  dispatcherWith,
  resendEnv,
  scheduleCampaign,
  startSending,
} from "../_testing/email.ts";
import { clientIp, confirmLink } from "../_testing/forms.ts";
import { createUser, dbTest, deleteUsers } from "../_testing/harness.ts";
import { createFormsApp, readFormsSettings } from "./app.ts";

const settings = readFormsSettings();
const app = createFormsApp(settings);

async function doubleOptInForm(user: UserClaims): Promise<string> {
  const [form] = await asUser(
    user,
    (tx) =>
      tx`insert into public.forms (name, double_opt_in, consent_text, consent_version, confirm_url)
       values ('Newsletter signup', true, 'Email me the newsletter.', 'v2',
               'https://acme.example/confirmed')
       returning id`,
  );
  return form.id;
}

const signUp = (formId: string, address: string) =>
  app.request(`/forms/${formId}`, {
    method: "POST",
    headers: { "content-type": "application/json", "cf-connecting-ip": clientIp() },
    body: JSON.stringify({ email: address, consent: true }),
  });

/** The confirm page of the email the fake received, as a path the app routes. */
function confirmPath(fake: ResendFake, address: string): string {
  const [email] = fake.sentTo(address);
  assert.ok(email, `a confirmation email went to ${address}`);
  return new URL(confirmLink(email.html!).target).pathname.replace(/^\/functions\/v1/, "");
}

async function lead(user: UserClaims, address: string) {
  const [row] = await asService((tx) =>
    tx`select l.subscription_status,
              (select array_agg(c.purpose || ' ' || c.consent_version order by c.created_at, c.purpose desc)
               from public.consents as c where c.lead_id = l.id) as consents
       from public.leads as l where l.user_id = ${user.sub} and l.email = ${address}`
  );
  return row;
}

dbTest(
  "double opt-in: confirmation email, no campaigns until confirmed, the link subscribes",
  async () => {
    const fake = startResendFake();
    const user = await createUser("doi");
    const dispatcher = dispatcherWith(resendEnv(fake.url));
    try {
      const formId = await doubleOptInForm(user);
      const address = `doi-${crypto.randomUUID().slice(0, 8)}@example.com`;
      let res = await signUp(formId, address);
      assert.equal(res.status, 200);
      assert.deepEqual(await res.json(), { ok: true, status: "unconfirmed" });
      assert.equal((await lead(user, address)).subscription_status, "unconfirmed");

      const news = await scheduleCampaign(user, { recipient_list: [{ leads: {} }, address] });
      assert.equal(
        await startSending(news),
        "sent",
        "a campaign to everyone finds nobody to send to",
      );
      assert.deepEqual(await deliveries(news), [], "the unconfirmed lead is not a recipient");

      await dispatcher.run();
      assert.equal(fake.sentTo(address).length, 1, "only the confirmation email was sent");
      assert.equal(fake.sentTo(address)[0].subject, "Please confirm your subscription");
      const link = confirmPath(fake, address);

      res = await signUp(formId, address);
      assert.equal(res.status, 200, "posting again answers the same");
      await res.body?.cancel();
      await dispatcher.run();
      assert.equal(fake.sentTo(address).length, 1, "and re-sends at most every 5 minutes");

      // Six minutes later, posting again re-sends the confirmation.
      await asService((tx) =>
        tx`update public.email_campaigns set created_at = created_at - interval '6 minutes'
           where user_id = ${user.sub} and purpose = 'confirmation'`
      );
      res = await signUp(formId, address);
      assert.equal(res.status, 200);
      await res.body?.cancel();
      await dispatcher.run();
      assert.equal(fake.sentTo(address).length, 2, "once the 5 minutes passed, it is re-sent");
      assert.equal(fake.sentTo(address)[1].subject, "Please confirm your subscription");

      res = await app.request(link);
      assert.equal(res.status, 200);
      assert.match(await res.text(), /<form method="post"><button type="submit">Confirm/);
      assert.equal(
        (await lead(user, address)).subscription_status,
        "unconfirmed",
        "a GET changes nothing",
      );

      res = await app.request(link, { method: "POST", headers: { "user-agent": "Reader/1.0" } });
      assert.equal(res.status, 303);
      assert.equal(res.headers.get("location"), "https://acme.example/confirmed");
      // A consent per post, then the confirmation.
      assert.deepEqual(await lead(user, address), {
        subscription_status: "subscribed",
        consents: [
          "email_marketing v2",
          "email_marketing v2",
          "email_marketing v2",
          "double_opt_in v2",
        ],
      });
      res = await app.request(link, { method: "POST" });
      assert.equal(res.status, 303, "confirming twice is harmless");
      await res.body?.cancel();

      const next = await scheduleCampaign(user, { recipient_list: [address] });
      assert.equal(await startSending(next), "sending");
      assert.equal((await deliveries(next)).length, 1, "once confirmed, campaigns reach the lead");
    } finally {
      await deleteUsers(user);
      await fake.close();
    }
  },
);

dbTest("double opt-in respects suppressions and refuses expired or changed links", async () => {
  const fake = startResendFake();
  const user = await createUser("doi-refused");
  try {
    const formId = await doubleOptInForm(user);
    const address = `blocked-${crypto.randomUUID().slice(0, 8)}@example.com`;
    await asUser(
      user,
      (tx) => tx`insert into public.email_suppressions (email) values (${address})`,
    );
    const res = await signUp(formId, address);
    assert.equal(res.status, 200);
    await res.body?.cancel();
    const [delivery] = await asService((tx) =>
      tx`select d.status from public.email_deliveries as d
         join public.email_campaigns as c on c.id = d.email_campaign_id
         where c.user_id = ${user.sub} and c.purpose = 'confirmation'`
    );
    assert.equal(delivery.status, "suppressed", "a suppressed address gets no confirmation");
    await dispatcherWith(resendEnv(fake.url)).run();
    assert.equal(fake.sentTo(address).length, 0);

    const [{ id: leadId }] = await asService((tx) =>
      tx`select id from public.leads where user_id = ${user.sub}`
    );
    const expired = signConfirmToken(settings.key, {
      formId,
      leadId,
      expiresAt: new Date(Date.now() - 1000),
    });
    let answer = await app.request(`/forms/confirm/${expired}`, { method: "POST" });
    assert.equal(answer.status, 410);
    assert.match(await answer.text(), /expired/);
    const valid = signConfirmToken(settings.key, {
      formId,
      leadId,
      expiresAt: new Date(Date.now() + 60_000),
    });
    const changed = `${valid.slice(0, 5)}${valid[5] === "A" ? "B" : "A"}${valid.slice(6)}`;
    answer = await app.request(`/forms/confirm/${changed}`, { method: "POST" });
    assert.equal(answer.status, 404);
    await answer.body?.cancel();
    assert.equal((await lead(user, address)).subscription_status, "unconfirmed");
  } finally {
    await deleteUsers(user);
    await fake.close();
  }
});
