// The public form post: HTML (303 to the success page) and JSON, the lead upserted by email
// with the accepted fields, tags, lists and a consent record; bad input named and changing
// nothing; the honeypot; per-IP and per-form rate limits; Turnstile when the owner stored its
// secret (against the siteverify fake).
import assert from "node:assert/strict";
import { asUser } from "../_shared/db.ts";
import { storeUserSecret } from "../_shared/secrets.ts";
import { startTurnstileFake } from "../_testing/fakes/turnstile.ts";
import { clientIp, createForm, formLeads } from "../_testing/forms.ts";
import { createUser, dbTest, deleteUsers } from "../_testing/harness.ts";
import { createFormsApp, readFormsSettings, TURNSTILE_SECRET } from "./app.ts";

const app = createFormsApp(readFormsSettings());

function postForm(formId: string, body: string, headers: Record<string, string> = {}) {
  return app.request(`/forms/${formId}`, {
    method: "POST",
    headers: {
      "content-type": "application/x-www-form-urlencoded",
      "user-agent": "FormTest/1.0",
      "cf-connecting-ip": headers["x-forwarded-for"] ?? clientIp(),
      ...headers,
    },
    body,
  });
}

function postJson(formId: string, body: unknown, headers: Record<string, string> = {}) {
  return app.request(`/forms/${formId}`, {
    method: "POST",
    headers: { "content-type": "application/json", "cf-connecting-ip": clientIp(), ...headers },
    body: JSON.stringify(body),
  });
}

dbTest("an HTML post upserts the lead with fields, tags, list and consent, then 303", async () => {
  const user = await createUser("forms-html");
  try {
    const formId = await createForm(user);
    let res = await postForm(
      formId,
      "email=Ada%40Example.com&first_name=Ada&plan=pro&consent=on&ignored=x",
      { "x-forwarded-for": "203.0.113.9" },
    );
    assert.equal(res.status, 303);
    assert.equal(res.headers.get("location"), "https://acme.example/thanks");
    assert.deepEqual(await formLeads(user), [{
      email: "Ada@Example.com",
      first_name: "Ada",
      tags: ["signup"],
      custom_fields: { plan: "pro" },
      subscription_status: "subscribed",
      source: "form: Signup",
      lists: 1,
      consents: ["email_marketing 2026-12 203.0.113.9 FormTest/1.0"],
    }]);

    res = await postJson(formId, { email: "ada@example.com ", plan: "team", consent: "yes" });
    assert.equal(res.status, 200);
    assert.deepEqual(await res.json(), { ok: true, status: "subscribed" });
    const [lead] = await formLeads(user);
    assert.equal(lead.first_name, "Ada", "a field left out keeps its value");
    assert.deepEqual(lead.custom_fields, { plan: "team" }, "the case variant updated the one lead");
    assert.equal(lead.consents.length, 2, "each post records its consent");
  } finally {
    await deleteUsers(user);
  }
});

dbTest("bad posts are refused naming the field, and change nothing", async () => {
  const user = await createUser("forms-bad");
  try {
    const formId = await createForm(user);
    const cases: [Response, number, RegExp][] = [
      [await postForm(formId, "first_name=Ada&consent=on"), 400, /email: /],
      [await postForm(formId, "email=nope&consent=on"), 400, /email: must be an email address/],
      [await postForm(formId, "email=a%40b.example"), 400, /consent: must be checked/],
      [
        await postForm(formId, `email=a%40b.example&consent=on&first_name=${"x".repeat(201)}`),
        400,
        /first_name: must be at most 200/,
      ],
      [await postJson(formId, ["a@b.example"]), 400, /JSON object/],
      [
        await app.request(`/forms/${formId}`, {
          method: "POST",
          body: "x",
          headers: { "content-type": "text/plain" },
        }),
        415,
        /urlencoded/,
      ],
      [
        await postForm(crypto.randomUUID(), "email=a%40b.example&consent=on"),
        404,
        /does not exist/,
      ],
      [await postForm("not-a-form", "email=a%40b.example"), 400, /form_id/],
    ];
    for (const [res, status, message] of cases) {
      assert.equal(res.status, status);
      assert.match(await res.text(), message);
    }
    await asUser(user, (tx) => tx`update public.forms set is_active = false`);
    const closed = await postForm(formId, "email=a%40b.example&consent=on");
    assert.equal(closed.status, 404, "an inactive form takes nothing");
    await closed.body?.cancel();
    assert.deepEqual(await formLeads(user), []);
  } finally {
    await deleteUsers(user);
  }
});

dbTest("a filled honeypot looks like a success and stores nothing", async () => {
  const user = await createUser("forms-honeypot");
  try {
    const formId = await createForm(user);
    const res = await postForm(
      formId,
      "email=bot%40spam.example&consent=on&beacon_hp=http%3A%2F%2Fspam",
    );
    assert.equal(res.status, 303);
    assert.deepEqual(await formLeads(user), []);
  } finally {
    await deleteUsers(user);
  }
});

dbTest("posts are rate-limited per client address and per form", async () => {
  const user = await createUser("forms-limit");
  Deno.env.set("BEACON_RATE_LIMIT_FORMS_PER_IP", "2");
  Deno.env.set("BEACON_RATE_LIMIT_FORMS_PER_TOKEN", "4");
  const limited = createFormsApp(readFormsSettings());
  Deno.env.delete("BEACON_RATE_LIMIT_FORMS_PER_IP");
  Deno.env.delete("BEACON_RATE_LIMIT_FORMS_PER_TOKEN");
  try {
    const formId = await createForm(user, { consent_text: null });
    const post = (address: string, n: number) =>
      limited.request(`/forms/${formId}`, {
        method: "POST",
        headers: { "content-type": "application/json", "cf-connecting-ip": address },
        body: JSON.stringify({ email: `p${n}@example.com` }),
      });
    const one = clientIp();
    const statuses = [];
    for (let n = 0; n < 3; n++) {
      const res = await post(one, n);
      statuses.push(res.status);
      if (res.status === 429) assert.ok(Number(res.headers.get("retry-after")) > 0);
      await res.body?.cancel();
    }
    assert.deepEqual(statuses, [200, 200, 429], "the third post from one address waits");
    const other = await post(`203.0.113.${Math.floor(Math.random() * 250) + 1}`, 3);
    assert.equal(other.status, 200, "another address still posts");
    await other.body?.cancel();
    const fourth = await post(`192.0.2.${Math.floor(Math.random() * 250) + 1}`, 4);
    assert.equal(
      fourth.status,
      429,
      "the form's own limit counts every post (four), refused ones too",
    );
    await fourth.body?.cancel();
  } finally {
    await deleteUsers(user);
  }
});

dbTest("with the owner's Turnstile secret, a post needs a valid, unused widget token", async () => {
  const fake = startTurnstileFake(["0x4AAAAAAA-owner-secret"]);
  const user = await createUser("forms-turnstile");
  const guarded = createFormsApp(
    readFormsSettings({ ...Deno.env.toObject(), BEACON_TURNSTILE_URL: fake.url }),
  );
  try {
    const formId = await createForm(user, { consent_text: null });
    await storeUserSecret(user.sub, TURNSTILE_SECRET, "0x4AAAAAAA-owner-secret");
    const post = (body: Record<string, string>) =>
      guarded.request(`/forms/${formId}`, {
        method: "POST",
        headers: {
          "content-type": "application/x-www-form-urlencoded",
          // What the proxy saw, not what the client wrote: Turnstile gets the former.
          "cf-connecting-ip": "203.0.113.7",
          "x-forwarded-for": "6.6.6.6",
        },
        body: new URLSearchParams(body).toString(),
      });
    let res = await post({ email: "t@example.com" });
    assert.equal(res.status, 403);
    assert.match(await res.text(), /turnstile_required/);
    res = await post({ email: "t@example.com", "cf-turnstile-response": "forged" });
    assert.equal(res.status, 403);
    assert.match(await res.text(), /invalid-input-response/);
    assert.deepEqual(await formLeads(user), []);

    const token = fake.issue("0x4AAAAAAA-owner-secret");
    res = await post({ email: "t@example.com", "cf-turnstile-response": token });
    assert.equal(res.status, 303);
    assert.deepEqual(fake.calls.at(-1), {
      secret: "0x4AAAAAAA-owner-secret",
      response: token,
      remoteip: "203.0.113.7",
    });
    assert.equal((await formLeads(user)).length, 1);
    res = await post({ email: "t@example.com", "cf-turnstile-response": token });
    assert.equal(res.status, 403, "a token is good once");
    assert.match(await res.text(), /timeout-or-duplicate/);
  } finally {
    await deleteUsers(user);
    await fake.close();
  }
});

dbTest("a success_url outside BEACON_FORMS_REDIRECT_ALLOWLIST is not followed", async () => {
  const user = await createUser("forms-allowlist");
  const strict = createFormsApp(
    readFormsSettings({
      ...Deno.env.toObject(),
      BEACON_FORMS_REDIRECT_ALLOWLIST: "https://allowed.example",
    }),
  );
  try {
    const formId = await createForm(user, { consent_text: null });
    const res = await strict.request(`/forms/${formId}`, {
      method: "POST",
      headers: {
        "content-type": "application/x-www-form-urlencoded",
        "cf-connecting-ip": clientIp(),
      },
      body: "email=x%40example.com",
    });
    assert.equal(res.status, 200);
    assert.match(await res.text(), /You are subscribed/);
    await assert.rejects(
      asUser(user, (tx) => tx`update public.forms set success_url = 'javascript:alert(1)'`),
      /forms_success_url_check/,
    );
  } finally {
    await deleteUsers(user);
  }
});
