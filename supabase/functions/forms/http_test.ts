// The forms function over real HTTP, served by the local gateway as scripts/start serves it:
// a browser's form post (303 to the success page) and its consent record (the client address
// the gateway forwards, the user agent), then the double opt-in link from the confirmation
// email: its page, and its button (303 to the confirm page).
import assert from "node:assert/strict";
import { asService, asUser } from "../_shared/db.ts";
import { startResendFake } from "../_testing/fakes/resend.ts";
import { dispatcherWith, resendEnv, serveFunctions } from "../_testing/email.ts";
import { createUser, dbTest, deleteUsers } from "../_testing/harness.ts";

dbTest("over HTTP: a form post, the confirmation email, the confirm page and button", async () => {
  const server = await serveFunctions();
  const fake = startResendFake();
  const user = await createUser("forms-http");
  try {
    const [form] = await asUser(
      user,
      (tx) =>
        tx`insert into public.forms (name, fields, double_opt_in, consent_text, success_url,
                                  confirm_url)
         values ('Signup', '{first_name}', true, 'Send me the newsletter.',
                 'https://acme.example/check-your-inbox', 'https://acme.example/welcome')
         returning id`,
    );
    const address = `http-${crypto.randomUUID().slice(0, 8)}@example.com`;
    let res = await fetch(`${server.url}/forms/${form.id}`, {
      method: "POST",
      headers: {
        "content-type": "application/x-www-form-urlencoded",
        "user-agent": "Mozilla/5.0 (FormsHttpTest)",
      },
      body: new URLSearchParams({ email: address, first_name: "Hedy", consent: "on" }),
      redirect: "manual",
    });
    assert.equal(res.status, 303);
    assert.equal(res.headers.get("location"), "https://acme.example/check-your-inbox");
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
      form_id: form.id,
    }]);

    await dispatcherWith(resendEnv(fake.url)).run();
    const [email] = fake.sentTo(address);
    assert.ok(email, "the confirmation email was sent");
    const link = [...email.html!.matchAll(/href="([^"]+)"/g)]
      .map(([, href]) => new URL(href.replaceAll("&amp;", "&")))
      .map((url) => url.searchParams.get("u") ?? url.href)
      .find((href) => href.includes("/forms/confirm/"));
    assert.ok(link?.startsWith(`${server.url}/forms/confirm/`), `the link is served here: ${link}`);

    res = await fetch(link!);
    assert.equal(res.status, 200);
    assert.match(await res.text(), /Confirm your subscription/);
    res = await fetch(link!, { method: "POST", redirect: "manual" });
    assert.equal(res.status, 303);
    assert.equal(res.headers.get("location"), "https://acme.example/welcome");
    await res.body?.cancel();
    const [lead] = await asService((tx) =>
      tx`select first_name, subscription_status from public.leads where user_id = ${user.sub}`
    );
    assert.deepEqual({ ...lead }, { first_name: "Hedy", subscription_status: "subscribed" });
  } finally {
    await deleteUsers(user);
    await fake.close();
    await server.stop();
  }
});
