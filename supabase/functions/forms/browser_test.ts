// Forms, double opt-in and the unsubscribe page in a real browser (headless Chromium driven over
// the DevTools protocol, functions served over HTTP as scripts/start serves them): a person fills
// in a Beacon form on an owner's page and submits it (the browser follows the 303 to the
// owner's thank-you page; the lead and its consent exist), opens the confirm link of the email
// and presses Confirm (subscribed, on to the owner's welcome page), then from a campaign's
// unsubscribe page leaves one list, and then everything.
import assert from "node:assert/strict";
import { asService, asUser } from "../_shared/db.ts";
import { type Browser, openBrowser } from "../_testing/browser.ts";
import { startResendFake } from "../_testing/fakes/resend.ts";
import {
  dispatcherWith,
  resendEnv,
  scheduleCampaign,
  serveFunctions,
  startSending,
  trackingUrls,
  trackPath,
} from "../_testing/email.ts";
import { confirmLink } from "../_testing/forms.ts";
import { createUser, deleteUsers } from "../_testing/harness.ts";

/** The owner's site: a signup page with the Beacon form, and the pages forms send people to. */
function ownersSite(form: () => string) {
  const pages: Record<string, string> = {
    "/thanks": "<h1>Thanks, check your inbox</h1>",
    "/welcome": "<h1>Welcome aboard</h1>",
  };
  return Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen: () => {} },
    (request) => {
      const path = new URL(request.url).pathname;
      const body = path === "/signup" ? form() : pages[path];
      if (!body) return new Response("not found", { status: 404 });
      return new Response(
        `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Acme</title></head>` +
          `<body>${body}</body></html>`,
        { headers: { "content-type": "text/html; charset=utf-8" } },
      );
    },
  );
}

/**
 * The lead of `address`: its state, lists it has not left, and consents (oldest first), with
 * the address the browser posted from as the local gateway forwarded it (X-Forwarded-For).
 */
async function leadOf(owner: string, address: string) {
  const [lead] = await asService((tx) =>
    tx`select l.first_name, l.subscription_status,
         array(select li.name from public.list_memberships as m
               join public.lists as li on li.id = m.list_id
               where m.lead_id = l.id and m.unsubscribed_at is null order by li.name) as lists,
         array(select jsonb_build_object('purpose', c.purpose, 'version', c.consent_version,
                 'form', c.form_id is not null, 'ip', host(c.ip_address),
                 'chrome', c.user_agent like '%Chrome%')
               from public.consents as c where c.lead_id = l.id
               order by c.created_at, c.purpose desc) as consents
       from public.leads as l where l.user_id = ${owner} and l.email = ${address}`
  );
  return lead;
}

/** Clicks the button whose text is `label` and waits for the page it leads to. */
const press = (browser: Browser, label: string) =>
  browser.navigateBy(`(() => {
    const button = [...document.querySelectorAll("button")]
      .find((b) => b.textContent.trim() === ${JSON.stringify(label)});
    if (!button) throw new Error("no button " + ${JSON.stringify(label)});
    button.click();
  })()`);

Deno.test({
  name: "in headless Chromium: form post, double opt-in link, leave one list, then all",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    const functions = await serveFunctions();
    const fake = startResendFake();
    const user = await createUser("forms-browser");
    let formId = "";
    const site = ownersSite(() => `
<form method="post" action="${functions.url}/forms/${formId}">
  <input name="email" type="email" required>
  <input name="first_name">
  <label><input name="consent" type="checkbox" required> Send me the newsletter.</label>
  <input name="beacon_hp" tabindex="-1" autocomplete="off" style="position:absolute;left:-9999px">
  <button>Subscribe</button>
</form>`);
    const origin = `http://127.0.0.1:${site.addr.port}`;
    const browser = await openBrowser();
    const dispatcher = dispatcherWith(resendEnv(fake.url));
    try {
      const lists = await asUser(user, async (tx) => {
        const rows = await tx<{ id: string; name: string }[]>`
          insert into public.lists (name) values ('Newsletter'), ('Product updates')
          returning id, name`;
        const [form] = await tx`
          insert into public.forms (name, fields, list_ids, double_opt_in, consent_text,
                                    consent_version, success_url, confirm_url)
          values ('Newsletter signup', '{first_name}', ${rows.map((r) => r.id)}, true,
                  'Send me the newsletter.', 'v1', ${`${origin}/thanks`}, ${`${origin}/welcome`})
          returning id`;
        formId = form.id;
        return Object.fromEntries(rows.map((r) => [r.name, r.id]));
      });
      const address = `chromium-${crypto.randomUUID().slice(0, 8)}@example.com`;

      // A person fills in the form and submits it.
      await browser.goto(`${origin}/signup`);
      await browser.navigateBy(`(() => {
        document.querySelector("[name=email]").value = ${JSON.stringify(address)};
        document.querySelector("[name=first_name]").value = "Hedy";
        document.querySelector("[name=consent]").checked = true;
        document.querySelector("button").click();
      })()`);
      let page = await browser.page();
      assert.equal(
        page.url,
        `${origin}/thanks`,
        "the 303 took the browser to success_url",
      );
      assert.match(page.text, /check your inbox/);
      assert.deepEqual(await leadOf(user.sub, address), {
        first_name: "Hedy",
        subscription_status: "unconfirmed",
        lists: ["Newsletter", "Product updates"],
        consents: [{
          purpose: "email_marketing",
          version: "v1",
          form: true,
          ip: "127.0.0.1",
          chrome: true,
        }],
      });

      // The confirmation email's link, opened in the browser; its button confirms.
      await dispatcher.run();
      const [confirmation] = fake.sentTo(address);
      assert.ok(confirmation, "the confirmation email was sent");
      await browser.goto(confirmLink(confirmation.html!).target);
      page = await browser.page();
      assert.match(page.text, /Confirm your subscription/);
      assert.equal(
        (await leadOf(user.sub, address)).subscription_status,
        "unconfirmed",
        "opening the link changes nothing",
      );
      await press(browser, "Confirm");
      page = await browser.page();
      assert.equal(
        page.url,
        `${origin}/welcome`,
        "confirmed, on to confirm_url",
      );
      const confirmed = await leadOf(user.sub, address);
      assert.equal(confirmed.subscription_status, "subscribed");
      assert.deepEqual(
        confirmed.consents.map((c: { purpose: string }) => c.purpose),
        [
          "email_marketing",
          "double_opt_in",
        ],
      );

      // A campaign to the newsletter list; its unsubscribe page, in the browser.
      const campaign = await scheduleCampaign(user, {
        subject: "The newsletter",
        recipient_list: [{ list: lists["Newsletter"] }],
      });
      assert.equal(await startSending(campaign), "sending");
      await dispatcher.run();
      const news = fake.sentTo(address).find((email) => email.subject === "The newsletter");
      assert.ok(news, "the confirmed lead got the newsletter");
      const unsubscribe = `${functions.url}${trackPath(trackingUrls(news.html!).unsubscribe)}`;

      await browser.goto(unsubscribe);
      await press(browser, "Leave Newsletter");
      page = await browser.page();
      assert.match(page.text, /will not receive Newsletter emails/);
      let lead = await leadOf(user.sub, address);
      assert.deepEqual([lead.subscription_status, lead.lists], [
        "subscribed",
        ["Product updates"],
      ], "one list left, still subscribed to the rest");

      await browser.goto(unsubscribe);
      page = await browser.page();
      assert.doesNotMatch(
        page.text,
        /Leave Newsletter/,
        "the list left is not offered again",
      );
      await press(browser, "Unsubscribe from everything");
      page = await browser.page();
      assert.match(page.text, /You are unsubscribed/);
      lead = await leadOf(user.sub, address);
      assert.equal(lead.subscription_status, "unsubscribed");
    } catch (err) {
      console.error(functions.log());
      throw err;
    } finally {
      await browser.close();
      await site.shutdown();
      await deleteUsers(user);
      await fake.close();
      await functions.stop();
    }
  },
});
