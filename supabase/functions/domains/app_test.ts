// Sending domains through the fake Resend over real HTTP: add one, get the DNS records,
// verify before and after publishing them; the campaign's sender is accepted only then.
import assert from "node:assert/strict";
import { asUser, type UserClaims } from "../_shared/db.ts";
import { startResendFake } from "../_testing/fakes/resend.ts";
import { scheduleCampaign } from "../_testing/email.ts";
import { bearerFor, createUser, dbTest, deleteUsers } from "../_testing/harness.ts";
import { createDomainsApp } from "./app.ts";

type App = ReturnType<typeof createDomainsApp>;

const post = async (
  app: App,
  user: UserClaims,
  path: string,
  body?: unknown,
) => {
  const response = await app.request(`/domains${path}`, {
    method: "POST",
    headers: {
      authorization: await bearerFor(user),
      "content-type": "application/json",
    },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: response.status, body: await response.json() };
};

/** DELETE /domains/{id} as `user`; its status. */
const remove = async (app: App, user: UserClaims, id: string) => {
  const response = await app.request(`/domains/${id}`, {
    method: "DELETE",
    headers: { authorization: await bearerFor(user) },
  });
  await response.body?.cancel();
  return response.status;
};

const fresh = () => `news.${crypto.randomUUID().slice(0, 8)}.example`;

dbTest(
  "a domain is added, its DNS records handed out, and verified once they are published",
  async () => {
    const fake = startResendFake();
    const app = createDomainsApp({
      apiKey: "re_platform_key",
      baseUrl: fake.url,
    });
    const owner = await createUser("domains");
    try {
      const domain = fresh();
      const added = await post(app, owner, "", {
        domain: ` ${domain.toUpperCase()} `,
      });
      assert.equal(added.status, 201, JSON.stringify(added.body));
      assert.equal(added.body.domain, domain);
      assert.equal(added.body.status, "not_started");
      assert.deepEqual(
        added.body.records.map((r: { record: string }) => r.record),
        ["SPF", "SPF", "DKIM"],
      );
      const [registered] = [...fake.domains.values()].filter((d) => d.name === domain);
      assert.equal(
        registered.apiKey,
        "re_platform_key",
        "registered under the platform's key",
      );
      const [row] = await asUser(
        owner,
        (tx) =>
          tx`select domain, status, provider_domain_id from public.sending_domains where id = ${added.body.id}`,
      );
      assert.deepEqual({ ...row }, {
        domain,
        status: "not_started",
        provider_domain_id: registered.id,
      });

      const schedule = () =>
        scheduleCampaign(owner, {
          recipient_list: ["a@example.test"],
          from_email: `hello@${domain}`,
        });
      await assert.rejects(
        schedule,
        /from_email: hello@.* is on .*, which is not_started, not verified/,
      );

      const early = await post(app, owner, `/${added.body.id}/verify`);
      assert.equal(early.status, 200);
      assert.equal(
        early.body.status,
        "pending",
        "Resend has not found the records yet",
      );
      await assert.rejects(schedule, /which is pending, not verified/);

      fake.publishDns(domain);
      const verified = await post(app, owner, `/${added.body.id}/verify`);
      assert.equal(verified.body.status, "verified");
      assert.ok(
        verified.body.records.every((r: { status: string }) => r.status === "verified"),
      );
      assert.match(
        await schedule(),
        /^[0-9a-f-]{36}$/,
        "scheduled from the verified domain",
      );

      const again = await post(app, owner, "", { domain });
      assert.equal(again.status, 409);
      assert.match(again.body.message, /You added .* already/);

      assert.equal(await remove(app, owner, added.body.id), 204);
      assert.equal(fake.domains.has(registered.id), false, "removed from Resend");
      await assert.rejects(schedule, /is not on a sending domain you have verified/);
      const readded = await post(app, owner, "", { domain });
      assert.equal(readded.status, 201, "and it can be added again");
    } finally {
      await deleteUsers(owner);
      await fake.close();
    }
  },
);

dbTest(
  "bad requests, other owners' domains, no platform key and Resend's refusals",
  async () => {
    const fake = startResendFake();
    const app = createDomainsApp({
      apiKey: "re_platform_key",
      baseUrl: fake.url,
    });
    const owner = await createUser("domains-owner");
    const other = await createUser("domains-other");
    try {
      for (
        const domain of [
          "https://acme.example",
          "me@acme.example",
          "acme",
          "a..b.example",
          7,
        ]
      ) {
        const bad = await post(app, owner, "", { domain });
        assert.equal(bad.status, 400, `${domain}`);
        assert.match(JSON.stringify(bad.body), /body\.domain/);
      }
      const domain = fresh();
      const added = await post(app, owner, "", { domain });
      assert.equal(added.status, 201);

      const taken = await post(app, other, "", { domain });
      assert.equal(taken.status, 409);
      assert.match(
        taken.body.message,
        /registered as a sending domain already/,
      );
      const foreign = await post(app, other, `/${added.body.id}/verify`);
      assert.equal(
        foreign.status,
        404,
        "another owner's domain is not there for them",
      );
      assert.equal(await remove(app, other, added.body.id), 404);
      assert.equal((await post(app, owner, "/not-an-id/verify")).status, 400);

      const keyless = createDomainsApp({ baseUrl: fake.url });
      const refused = await post(keyless, owner, "", { domain: fresh() });
      assert.equal(refused.status, 503);
      assert.match(refused.body.message, /RESEND_API_KEY/);

      const wrongKey = createDomainsApp({
        apiKey: "sk_not_resend",
        baseUrl: fake.url,
      });
      const denied = await post(wrongKey, owner, "", { domain: fresh() });
      assert.equal(denied.status, 502);
      assert.match(denied.body.message, /403 invalid_api_key/);

      const unanswered = await post(
        createDomainsApp({ apiKey: "re_x", baseUrl: "http://127.0.0.1:9" }),
        owner,
        "",
        {
          domain: fresh(),
        },
      );
      assert.equal(unanswered.status, 502);
      const [{ count }] = await asUser(
        owner,
        (tx) => tx`select count(*)::int from public.sending_domains`,
      );
      assert.equal(count, 1, "nothing was recorded for a refused domain");
    } finally {
      await deleteUsers(owner, other);
      await fake.close();
    }
  },
);
