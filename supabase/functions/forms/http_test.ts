// The forms function over real HTTP, served by the local gateway as scripts/start serves it.
//
// Double opt-in end to end with the local outbox (no Resend key, as on the local stack): a
// browser's form post (303 to the success page) and its consent record (the client address
// the gateway forwards, the user agent); the dispatch function writes the confirmation .eml
// into the outbox and nothing of a campaign sent meanwhile; the .eml's link, its page and its
// button (303 to the confirm page) subscribe the lead, whom the next campaign reaches.
//
// The spam defences: a JSON post answered in JSON, the honeypot, the per-address rate limit
// (429 + Retry-After), and Turnstile once the owner stored a secret through the secrets
// function (checked against the siteverify fake, over HTTP too).
import assert from "node:assert/strict";
import { asService } from "../_shared/db.ts";
import { startTurnstileFake } from "../_testing/fakes/turnstile.ts";
import {
  outboxMessages,
  scheduleCampaign,
  serveFunctions,
  startSending,
} from "../_testing/email.ts";
import { clientIp, confirmLink, createForm, formLeads } from "../_testing/forms.ts";
import { bearerFor, createUser, dbTest, deleteUsers, serviceBearer } from "../_testing/harness.ts";
import { TURNSTILE_SECRET } from "./app.ts";

dbTest(
  "over HTTP with the local outbox: double opt-in from the form post to the first campaign",
  async () => {
    const outbox = await Deno.makeTempDir({ prefix: "beacon-forms-outbox-" });
    const server = await serveFunctions({
      RESEND_API_KEY: "",
      BEACON_OUTBOX_DIR: outbox,
    });
    const user = await createUser("forms-http");
    /** What pg_cron has the dispatch function do every few seconds. */
    const dispatch = async () => {
      const res = await fetch(`${server.url}/dispatch`, {
        method: "POST",
        headers: {
          authorization: await serviceBearer(),
          "content-type": "application/json",
        },
        body: JSON.stringify({ lanes: ["email"] }),
      });
      assert.equal(res.status, 200);
      await res.body?.cancel();
    };
    try {
      const formId = await createForm(user, {
        fields: ["first_name"],
        double_opt_in: true,
        success_url: "https://acme.example/check-your-inbox",
        confirm_url: "https://acme.example/welcome",
      });
      const address = `http-${crypto.randomUUID().slice(0, 8)}@example.com`;
      let res = await fetch(`${server.url}/forms/${formId}`, {
        method: "POST",
        headers: {
          "content-type": "application/x-www-form-urlencoded",
          "user-agent": "Mozilla/5.0 (FormsHttpTest)",
        },
        body: new URLSearchParams({
          email: address,
          first_name: "Hedy",
          consent: "on",
        }),
        redirect: "manual",
      });
      assert.equal(res.status, 303);
      assert.equal(
        res.headers.get("location"),
        "https://acme.example/check-your-inbox",
      );
      await res.body?.cancel();
      // The consent holds who posted: the address the gateway saw (as Supabase's gateway, it
      // passes it in X-Forwarded-For) and the browser's user agent.
      const consents = await asService((tx) =>
        tx`select c.purpose, host(c.ip_address) as ip, c.user_agent, c.form_id
         from public.consents as c join public.leads as l on l.id = c.lead_id
         where l.user_id = ${user.sub}`
      );
      assert.deepEqual(consents.map((c) => ({ ...c })), [{
        purpose: "email_marketing",
        ip: "127.0.0.1",
        user_agent: "Mozilla/5.0 (FormsHttpTest)",
        form_id: formId,
      }]);

      // A campaign to every lead, and to the address by name, while it is unconfirmed.
      const early = await scheduleCampaign(user, {
        recipient_list: [{ leads: {} }, address],
      });
      assert.equal(
        await startSending(early),
        "sent",
        "the campaign finds nobody to send to",
      );
      await dispatch();
      const [confirmation, ...others] = (await outboxMessages(outbox)).filter((
        m,
      ) => m.to === address);
      assert.ok(confirmation, "the confirmation .eml is in the outbox");
      assert.deepEqual(
        others,
        [],
        "and nothing else for the address: no campaign email",
      );
      assert.equal(confirmation.subject, "Please confirm your subscription");

      const { href, target } = confirmLink(confirmation.html);
      assert.ok(
        target.startsWith(`${server.url}/forms/confirm/`),
        `served here: ${target}`,
      );
      res = await fetch(href);
      assert.equal(res.status, 200);
      assert.equal(res.url, target, "the link leads to the confirm page");
      assert.match(await res.text(), /Confirm your subscription/);
      const state = async () => {
        const [lead] = await asService((tx) =>
          tx`select first_name, subscription_status from public.leads where user_id = ${user.sub}`
        );
        return { ...lead };
      };
      assert.deepEqual(await state(), {
        first_name: "Hedy",
        subscription_status: "unconfirmed",
      });
      res = await fetch(target, { method: "POST", redirect: "manual" });
      assert.equal(res.status, 303);
      assert.equal(res.headers.get("location"), "https://acme.example/welcome");
      await res.body?.cancel();
      assert.deepEqual(await state(), {
        first_name: "Hedy",
        subscription_status: "subscribed",
      });

      const next = await scheduleCampaign(user, {
        subject: "The newsletter",
        recipient_list: [{ leads: {} }],
      });
      assert.equal(await startSending(next), "sending");
      await dispatch();
      assert.deepEqual(
        (await outboxMessages(outbox)).filter((m) => m.to === address)
          .map((m) => [m.campaignId === next, m.subject]).sort(),
        [[false, "Please confirm your subscription"], [true, "The newsletter"]],
        "once confirmed, the next campaign reaches the lead",
      );
    } finally {
      await deleteUsers(user);
      await server.stop();
      await Deno.remove(outbox, { recursive: true });
    }
  },
);

Deno.test({
  name: "over HTTP: a JSON post, the honeypot, the rate limit and Turnstile",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn(t) {
    const siteSecret = "0x4AAAAAAA-http-owner-secret";
    const turnstile = startTurnstileFake([siteSecret]);
    const server = await serveFunctions({
      BEACON_TURNSTILE_URL: turnstile.url,
      BEACON_RATE_LIMIT_FORMS_PER_IP: "3",
      // An hour: the window does not turn over between the posts the test counts.
      BEACON_RATE_LIMIT_WINDOW_SECONDS: "3600",
    });
    const user = await createUser("forms-http-spam");
    const formId = await createForm(user);
    const post = (
      body: Record<string, string | boolean>,
      { html = false, address = clientIp() } = {},
    ) =>
      fetch(`${server.url}/forms/${formId}`, {
        method: "POST",
        headers: {
          "content-type": html ? "application/x-www-form-urlencoded" : "application/json",
          "cf-connecting-ip": address,
          "user-agent": "FormsHttpTest/1.0",
        },
        body: html ? new URLSearchParams(body as Record<string, string>) : JSON.stringify(body),
        redirect: "manual",
      });
    const emails = async () => (await formLeads(user)).map((lead) => lead.email);
    try {
      await t.step(
        "a JSON post gets a JSON answer, a bad one names the field",
        async () => {
          let res = await post({
            email: "jo@example.com",
            first_name: "Jo",
            consent: true,
          });
          assert.equal(res.status, 200);
          assert.match(
            res.headers.get("content-type") ?? "",
            /^application\/json/,
          );
          assert.deepEqual(await res.json(), {
            ok: true,
            status: "subscribed",
          });
          const [lead] = await formLeads(user);
          assert.deepEqual(
            [lead.email, lead.first_name, lead.consents.length],
            [
              "jo@example.com",
              "Jo",
              1,
            ],
          );
          res = await post({ email: "nope", consent: true });
          assert.equal(res.status, 400);
          assert.match(
            res.headers.get("content-type") ?? "",
            /^application\/json/,
          );
          assert.match(
            (await res.json()).message,
            /email: must be an email address/,
          );
        },
      );

      await t.step(
        "a filled honeypot gets the answer of a success and stores nothing",
        async () => {
          const bot = {
            email: "bot@spam.example",
            consent: "on",
            beacon_hp: "http://spam.example",
          };
          let res = await post(bot, { html: true });
          assert.equal(res.status, 303);
          assert.equal(
            res.headers.get("location"),
            "https://acme.example/thanks",
          );
          await res.body?.cancel();
          res = await post(bot);
          assert.deepEqual(await res.json(), {
            ok: true,
            status: "subscribed",
          });
          assert.deepEqual(await emails(), ["jo@example.com"]);
        },
      );

      await t.step(
        "past the limit, an address gets 429 with Retry-After",
        async () => {
          const address = clientIp();
          const statuses = [];
          for (let n = 1; n <= 3; n++) {
            const res = await post({
              email: `p${n}@example.com`,
              consent: true,
            }, { address });
            statuses.push(res.status);
            await res.body?.cancel();
          }
          assert.deepEqual(statuses, [200, 200, 200]);
          const refused = await post(
            { email: "p4@example.com", consent: true },
            { address },
          );
          assert.equal(refused.status, 429);
          const wait = Number(refused.headers.get("retry-after"));
          assert.ok(
            Number.isInteger(wait) && wait >= 1 && wait <= 3600,
            `Retry-After: ${wait}`,
          );
          const body = await refused.json();
          assert.deepEqual([body.error, body.retry_after_seconds], [
            "rate_limited",
            wait,
          ]);
          const other = await post({ email: "p5@example.com", consent: true });
          assert.equal(other.status, 200, "another address still posts");
          await other.body?.cancel();
          assert.deepEqual(
            (await emails()).filter((email) => email.startsWith("p")),
            [
              "p1@example.com",
              "p2@example.com",
              "p3@example.com",
              "p5@example.com",
            ],
          );
        },
      );

      await t.step(
        "with the owner's Turnstile secret: a bad token refused, a good one accepted",
        async () => {
          const stored = await fetch(
            `${server.url}/secrets/${TURNSTILE_SECRET}`,
            {
              method: "PUT",
              headers: {
                authorization: await bearerFor(user),
                "content-type": "application/json",
              },
              body: JSON.stringify({ value: siteSecret }),
            },
          );
          assert.equal(stored.status, 201);
          await stored.body?.cancel();

          let res = await post({ email: "t@example.com", consent: true });
          assert.equal(res.status, 403);
          assert.equal((await res.json()).error, "turnstile_required");
          res = await post({
            email: "t@example.com",
            consent: true,
            "cf-turnstile-response": "forged",
          });
          assert.equal(res.status, 403);
          const refused = await res.json();
          assert.equal(refused.error, "turnstile_failed");
          assert.match(refused.message, /invalid-input-response/);
          assert.ok(
            !(await emails()).includes("t@example.com"),
            "a refused post stores nothing",
          );

          const address = clientIp();
          const token = turnstile.issue(siteSecret);
          res = await post(
            {
              email: "t@example.com",
              consent: true,
              "cf-turnstile-response": token,
            },
            { address },
          );
          assert.equal(res.status, 200);
          assert.deepEqual(await res.json(), {
            ok: true,
            status: "subscribed",
          });
          assert.deepEqual(turnstile.calls.at(-1), {
            secret: siteSecret,
            response: token,
            remoteip: address,
          });
          assert.ok((await emails()).includes("t@example.com"));
        },
      );
    } finally {
      await deleteUsers(user);
      await server.stop();
      await turnstile.close();
    }
  },
});
