// The track function with messages really sent (through the fake Resend), their links
// followed as a mail client, a person, a privacy proxy or a scanner would.
import assert from "node:assert/strict";
import { asService, type UserClaims } from "../_shared/db.ts";
import { type ResendFake, type SentEmail, startResendFake } from "../_testing/fakes/resend.ts";
import { readTrackingSettings } from "../_shared/email/settings.ts";
import {
  deliveries,
  dispatcherWith,
  resendEnv,
  scheduleCampaign,
  sentAgo,
  startSending,
  trackingUrls,
  trackPath,
} from "../_testing/email.ts";
import { createUser, dbTest, deleteUsers } from "../_testing/harness.ts";
import { createTrackApp } from "./app.ts";

const app = createTrackApp(readTrackingSettings());

const SAFARI =
  "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Safari/605.1.15";

type Sent = {
  fake: ResendFake;
  user: UserClaims;
  campaignId: string;
  email: SentEmail;
  address: string;
};

/** One message sent to a fresh address through the fake Resend; its links are the test's. */
async function withSentMessage(
  label: string,
  work: (sent: Sent) => Promise<void>,
) {
  const fake = startResendFake();
  const user = await createUser(label);
  try {
    const address = `${label}-${crypto.randomUUID().slice(0, 8)}@example.com`;
    const campaignId = await scheduleCampaign(user, {
      recipient_list: [{ email: address, first_name: "Ada" }],
      from_name: "Ada's Newsletter",
    });
    assert.equal(await startSending(campaignId), "sending");
    await dispatcherWith(resendEnv(fake.url)).run();
    const email = fake.sentTo(address)[0];
    assert.ok(email, "the message was sent");
    await work({ fake, user, campaignId, email, address });
  } finally {
    await deleteUsers(user);
    await fake.close();
  }
}

const get = (
  url: string,
  headers: Record<string, string> = {},
  method = "GET",
) => app.request(trackPath(url), { method, headers });

async function events(user: UserClaims, name: string) {
  return [
    ...await asService((tx) =>
      tx`select properties, user_agent, host(ip_address) as ip from public.analytics_events
         where user_id = ${user.sub} and event_name = ${name} order by "timestamp"`
    ),
  ];
}

dbTest(
  "the open pixel is a GIF; a person's open counts as human, a prefetch as machine",
  () =>
    withSentMessage("open", async ({ user, campaignId, email }) => {
      const { open } = trackingUrls(email.html!);
      // Right after sending: the kind of open a scanner makes.
      let res = await get(open, { "user-agent": SAFARI });
      assert.equal(res.status, 200);
      assert.equal(res.headers.get("content-type"), "image/gif");
      assert.match(res.headers.get("cache-control")!, /no-store/);
      assert.equal((await res.arrayBuffer()).byteLength, 42);
      let [row] = await deliveries(campaignId);
      assert.ok(row.opened_at);
      assert.equal(
        row.human_opened_at,
        null,
        "within seconds of delivery: a machine",
      );

      // An hour later, Apple's privacy proxy, then the reader.
      await sentAgo(campaignId, "1 hour");
      res = await get(open, {
        "user-agent": "Mozilla/5.0",
        "cf-connecting-ip": "17.58.1.2",
      });
      await res.body?.cancel();
      [row] = await deliveries(campaignId);
      assert.equal(
        row.human_opened_at,
        null,
        "Apple Mail Privacy Protection is not a person",
      );

      res = await get(open, {
        "user-agent": SAFARI,
        "cf-connecting-ip": "198.51.100.7",
      });
      await res.body?.cancel();
      [row] = await deliveries(campaignId);
      assert.ok(row.human_opened_at);

      // One analytics row an hour for machines' opens and one for the reader's; the
      // machines' second open only counts.
      const opened = await events(user, "email_opened");
      assert.deepEqual(
        opened.map((e) => [e.properties.machine, e.properties.count]),
        [[true, 2], [false, 1]],
      );
      assert.equal(opened[1].properties.delivery_id, row.id);
      assert.equal(opened[1].properties.email_campaign_id, campaignId);
      assert.equal(opened[1].user_agent, SAFARI);
      assert.equal(opened[1].ip, "198.51.100.7");
    }),
);

dbTest(
  "a click redirects to the link's target and is recorded; scanners are flagged",
  () =>
    withSentMessage("click", async ({ user, campaignId, email }) => {
      const { click } = trackingUrls(email.html!);
      await sentAgo(campaignId, "1 hour");
      let res = await get(click, {
        "user-agent": "Mozilla/5.0 (compatible; Barracuda scanner)",
      });
      assert.equal(res.status, 302);
      assert.equal(res.headers.get("location"), "https://example.com/news");
      let [row] = await deliveries(campaignId);
      assert.ok(row.clicked_at);
      assert.equal(row.human_clicked_at, null);

      res = await get(click, { "user-agent": SAFARI }, "HEAD");
      assert.equal(res.status, 302);
      [row] = await deliveries(campaignId);
      assert.equal(row.human_clicked_at, null, "a HEAD probe is not a person");

      res = await get(click, { "user-agent": SAFARI });
      assert.equal(res.status, 302);
      assert.match(res.headers.get("cache-control")!, /no-store/);
      [row] = await deliveries(campaignId);
      assert.ok(row.human_clicked_at);
      const clicked = await events(user, "email_clicked");
      assert.deepEqual(
        clicked.map((e) => [e.properties.machine, e.properties.count]),
        [[true, 2], [false, 1]],
      );
      assert.equal(clicked[1].properties.url, "https://example.com/news");
    }),
);

dbTest(
  "click links cannot be bent into an open redirect",
  () =>
    withSentMessage("redirect", async ({ campaignId, email }) => {
      const { click, open } = trackingUrls(email.html!);
      const url = new URL(click);
      const token = url.pathname.split("/").pop()!;
      const at = (u: string | null, t = token) => {
        const bent = new URL(url);
        bent.pathname = bent.pathname.replace(token, t);
        if (u === null) bent.searchParams.delete("u");
        else bent.searchParams.set("u", u);
        return get(bent.href);
      };
      const status = async (response: Response | Promise<Response>) => {
        const res = await response;
        await res.body?.cancel();
        assert.equal(res.headers.get("location"), null);
        return res.status;
      };
      for (
        const target of [
          "https://evil.example/",
          "https://example.com/news@evil.example",
          "https://example.com/news/../../evil",
          "https://example.com/news?next=https://evil.example",
          "https://EXAMPLE.com/news",
          "http://example.com/news",
        ]
      ) {
        assert.equal(await status(at(target)), 404, target);
      }
      for (
        const target of [
          "javascript:alert(1)",
          "//evil.example",
          "evil.example",
          "data:text/html,x",
        ]
      ) {
        assert.equal(await status(at(target)), 400, target);
      }
      const missing = await at(null);
      assert.equal(missing.status, 400);
      assert.equal((await missing.json()).fields[0].field, "query.u");

      const openToken = new URL(open).pathname.split("/").pop()!;
      assert.equal(
        await status(at("https://example.com/news", openToken)),
        404,
        "an open token",
      );
      const flipped = token.slice(0, -1) + (token.endsWith("A") ? "B" : "A");
      assert.equal(
        await status(at("https://example.com/news", flipped)),
        404,
        "a tampered token",
      );
      const shapeless = await at("https://example.com/news", "not-a-token");
      assert.equal(shapeless.status, 400);
      assert.equal((await shapeless.json()).fields[0].field, "params.token");
      const [row] = await deliveries(campaignId);
      assert.equal(row.clicked_at, null, "nothing was recorded");
    }),
);

dbTest(
  "a tampered open token is refused and records nothing",
  () =>
    withSentMessage("tamper", async ({ campaignId, email }) => {
      const { open } = trackingUrls(email.html!);
      const res = await get(
        open.slice(0, -2) + (open.endsWith("AA") ? "BB" : "AA"),
      );
      assert.equal(res.status, 404);
      assert.equal((await res.json()).error, "not_found");
      const [row] = await deliveries(campaignId);
      assert.equal(row.opened_at, null);
    }),
);

dbTest(
  "unsubscribe: GET shows a confirmation and changes nothing; POST is RFC 8058 one-click",
  () =>
    withSentMessage("unsub", async ({ user, campaignId, email, address }) => {
      const { unsubscribe } = trackingUrls(email.html!);
      assert.equal(email.headers["List-Unsubscribe"], `<${unsubscribe}>`);

      let res = await get(unsubscribe, {
        "user-agent": "Mozilla/5.0 (compatible; scanner)",
      });
      assert.equal(res.status, 200);
      const page = await res.text();
      assert.match(
        page,
        /<form method="post"><input type="hidden" name="List-Unsubscribe" value="One-Click">/,
      );
      assert.ok(
        page.includes(address) && page.includes("Ada&#39;s Newsletter"),
      );
      assert.match(
        res.headers.get("content-security-policy")!,
        /default-src 'none'/,
      );
      const suppressions = () =>
        asService((tx) =>
          tx`select email, reason, email_campaign_id from public.email_suppressions where user_id = ${user.sub}`
        );
      assert.equal(
        (await suppressions()).length,
        0,
        "a GET does not unsubscribe",
      );

      res = await app.request(trackPath(unsubscribe), { method: "POST" });
      assert.equal(res.status, 400);
      assert.equal((await res.json()).fields[0].field, "body.List-Unsubscribe");

      // What Gmail's one-click does: a form-encoded POST, no cookies, no confirmation.
      res = await app.request(trackPath(unsubscribe), {
        method: "POST",
        headers: { "content-type": "application/x-www-form-urlencoded" },
        body: "List-Unsubscribe=One-Click",
      });
      assert.equal(res.status, 200);
      assert.match(await res.text(), /You are unsubscribed/);
      assert.deepEqual([...await suppressions()], [{
        email: address,
        reason: "unsubscribed",
        email_campaign_id: campaignId,
      }]);
      const [row] = await deliveries(campaignId);
      assert.ok(row.unsubscribed_at);

      // The page's own button posts multipart or urlencoded; a second click changes nothing.
      const form = new FormData();
      form.set("List-Unsubscribe", "One-Click");
      res = await app.request(trackPath(unsubscribe), {
        method: "POST",
        body: form,
      });
      assert.equal(res.status, 200);
      await res.body?.cancel();
      assert.equal((await events(user, "email_unsubscribed")).length, 1);

      const forged = unsubscribe.slice(0, -1) +
        (unsubscribe.endsWith("A") ? "B" : "A");
      res = await app.request(trackPath(forged), {
        method: "POST",
        headers: { "content-type": "application/x-www-form-urlencoded" },
        body: "List-Unsubscribe=One-Click",
      });
      assert.equal(res.status, 404);
      assert.match(await res.text(), /This link is not valid/);
    }),
);
