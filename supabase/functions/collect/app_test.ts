// The collect function over real HTTP (served by the local gateway as scripts/start serves
// it): batches with good and bad events, idempotent message ids, every place a key may go,
// revoked keys, CORS, size limits, the rate limit, and identify attributing a visitor's
// earlier events to the lead (scored by the owner's engagement rule).
import assert from "node:assert/strict";
import { asUser, type UserClaims } from "../_shared/db.ts";
import {
  addEngagementRule,
  createWriteKey,
  storedEvents,
  storedLead,
} from "../_testing/collect.ts";
import { serveFunctions } from "../_testing/email.ts";
import { createUser, dbTest, deleteUsers } from "../_testing/harness.ts";
import { MAX_BATCH, MAX_BODY_BYTES } from "./app.ts";
import { MAX_PROPERTIES_BYTES } from "./events.ts";

const PER_KEY = 8;

type Answer = {
  status: number;
  headers: Headers;
  body: Record<string, unknown>;
};

async function post(
  url: string,
  body: unknown,
  headers: Record<string, string> = {},
): Promise<Answer> {
  const res = await fetch(url, {
    method: "POST",
    headers: { "content-type": "application/json", ...headers },
    body: typeof body === "string" ? body : JSON.stringify(body),
  });
  return { status: res.status, headers: res.headers, body: await res.json() };
}

type Scenario = { url: string; user: UserClaims; key: string };

/** The functions served once for the file; each scenario gets a fresh owner and key. */
Deno.test({
  name: "collect over HTTP",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async (t) => {
    const functions = await serveFunctions({
      BEACON_RATE_LIMIT_COLLECT_PER_TOKEN: String(PER_KEY),
    });
    const url = `${functions.url}/collect`;
    const users: UserClaims[] = [];
    const scenario = (name: string, work: (s: Scenario) => Promise<void>) =>
      t.step(name, async () => {
        const user = await createUser("collect");
        users.push(user);
        await work({ url, user, key: await createWriteKey(user) });
      });
    try {
      await scenario(
        "a batch: good events are recorded, bad ones rejected by index",
        async (s) => {
          const res = await post(s.url, {
            batch: [
              { type: "page", properties: { path: "/" }, anonymous_id: "v1" },
              { type: "track", anonymous_id: "v1" },
              {
                type: "track",
                event: "signup",
                properties: { plan: "pro" },
                anonymous_id: "v1",
              },
              { type: "click", event: "x" },
              { type: "track", event: "x", properties: [1] },
              { type: "track", event: "x", timestamp: "yesterday" },
              { type: "identify", anonymous_id: "v1" },
              { type: "track", event: "x", colour: "red" },
            ],
          }, {
            authorization: `Bearer ${s.key}`,
            "cf-connecting-ip": "203.0.113.9",
            "user-agent": "UA/1",
          });
          assert.equal(res.status, 200);
          assert.equal(res.body.accepted, 2);
          const errors = res.body.rejected as {
            index: number;
            error: string;
          }[];
          assert.deepEqual(errors.map((r) => r.index), [1, 3, 4, 5, 6, 7]);
          assert.match(
            errors[0].error,
            /^event: is required for a track event/,
          );
          assert.match(
            errors[1].error,
            /^type: must be "track", "page" or "identify"/,
          );
          assert.match(errors[2].error, /^properties: must be an object/);
          assert.match(errors[3].error, /^timestamp: must be an ISO 8601 time/);
          assert.match(errors[4].error, /^email: or lead_id is required/);
          assert.match(errors[5].error, /colour/);
          const rows = await storedEvents(s.user);
          assert.deepEqual(
            rows.map((r) => [r.event_type, r.event_name]).sort(),
            [
              ["page", "page_view"],
              ["track", "signup"],
            ],
          );
          assert.equal(
            rows[0].ip,
            "203.0.113.9",
            "the server fills the address",
          );
          assert.equal(rows[0].user_agent, "UA/1", "and the user agent");
          assert.equal(rows[0].anonymous_id, "v1");
        },
      );

      await scenario(
        "text Postgres cannot store is rejected with the event, not the batch",
        async (s) => {
          const res = await post(s.url, {
            batch: [
              { type: "track", event: "nul", properties: { note: "a\u0000b" } },
              { type: "track", event: "half", properties: { note: "\ud800" } },
              { type: "track", event: "fine", properties: { note: "\\u0000 \ud83d\ude00" } },
            ],
          }, { "x-beacon-key": s.key });
          assert.equal(res.status, 200);
          assert.deepEqual((res.body.rejected as { index: number }[]).map((r) => r.index), [0, 1]);
          assert.match(JSON.stringify(res.body.rejected), /cannot be stored: a NUL character/);
          const rows = await storedEvents(s.user);
          assert.deepEqual(rows.map((r) => [r.event_name, r.properties.note]), [[
            "fine",
            "\\u0000 \ud83d\ude00",
          ]]);
        },
      );

      await scenario(
        "a request whose every event is bad answers 400 and records nothing",
        async (s) => {
          const res = await post(s.url, { type: "track" }, {
            "x-beacon-key": s.key,
          });
          assert.equal(res.status, 400);
          assert.equal(res.body.error, "invalid_events");
          assert.match(
            String(res.body.message),
            /\[0\] event: is required for a track event/,
          );
          assert.deepEqual(await storedEvents(s.user), []);
        },
      );

      await scenario("a resent message_id is recorded once", async (s) => {
        const event = {
          type: "track",
          event: "signup",
          message_id: "m-1",
          anonymous_id: "v",
        };
        const first = await post(s.url, { batch: [event, event] }, {
          "x-beacon-key": s.key,
        });
        assert.deepEqual([first.body.accepted, first.body.duplicates], [2, 1]);
        const again = await post(s.url, event, { "x-beacon-key": s.key });
        assert.deepEqual([
          again.status,
          again.body.accepted,
          again.body.duplicates,
        ], [200, 1, 1]);
        assert.equal((await storedEvents(s.user)).length, 1);
      });

      await scenario(
        "the key may be a bearer token, x-beacon-key, ?key= or write_key (text/plain)",
        async (s) => {
          const event = (n: number) => ({
            type: "track",
            event: `placement-${n}`,
          });
          assert.equal(
            (await post(s.url, event(1), { authorization: `Bearer ${s.key}` }))
              .status,
            200,
          );
          assert.equal(
            (await post(s.url, event(2), { "x-beacon-key": s.key })).status,
            200,
          );
          assert.equal(
            (await post(`${s.url}?key=${s.key}`, event(3))).status,
            200,
          );
          const beacon = await post(
            s.url,
            JSON.stringify({ write_key: s.key, ...event(4) }),
            {
              "content-type": "text/plain;charset=UTF-8",
            },
          );
          assert.equal(beacon.status, 200);
          assert.deepEqual(
            (await storedEvents(s.user)).map((r) => r.event_name).sort(),
            [
              "placement-1",
              "placement-2",
              "placement-3",
              "placement-4",
            ],
          );
        },
      );

      await scenario(
        "no key, a malformed key, an unknown key and a revoked key answer 401",
        async (s) => {
          const event = { type: "track", event: "x" };
          const none = await post(s.url, event);
          assert.equal(none.status, 401);
          assert.match(String(none.body.message), /A write key is required/);
          assert.equal(
            (await post(s.url, event, { "x-beacon-key": "bk_pub_nope" }))
              .status,
            401,
          );
          const unknown = `bk_pub_${"0".repeat(48)}`;
          const refused = await post(s.url, event, { "x-beacon-key": unknown });
          assert.deepEqual([refused.status, refused.body.message], [
            401,
            "The write key is unknown or revoked.",
          ]);
          assert.equal(
            (await post(s.url, event, { "x-beacon-key": s.key })).status,
            200,
          );
          await asUser(
            s.user,
            (tx) => tx`select public.revoke_write_key(id) from public.write_keys`,
          );
          const revoked = await post(s.url, event, { "x-beacon-key": s.key });
          assert.deepEqual([revoked.status, revoked.body.error], [
            401,
            "invalid_write_key",
          ]);
          assert.equal(
            (await storedEvents(s.user)).length,
            1,
            "nothing recorded after revocation",
          );
        },
      );

      await scenario("CORS: any origin may preflight and post", async (s) => {
        const preflight = await fetch(s.url, {
          method: "OPTIONS",
          headers: {
            origin: "https://shop.example",
            "access-control-request-method": "POST",
            "access-control-request-headers": "content-type, x-beacon-key",
          },
        });
        await preflight.body?.cancel();
        assert.equal(preflight.status, 204);
        assert.equal(preflight.headers.get("access-control-allow-origin"), "*");
        assert.match(
          preflight.headers.get("access-control-allow-headers") ?? "",
          /x-beacon-key/,
        );
        const res = await post(s.url, { type: "page" }, {
          origin: "https://shop.example",
          "x-beacon-key": s.key,
        });
        assert.equal(res.headers.get("access-control-allow-origin"), "*");
      });

      await scenario(
        "size limits: a body over 512 KiB is 413, big properties and batches 400",
        async (s) => {
          const huge = "x".repeat(MAX_BODY_BYTES);
          const tooLarge = await post(s.url, {
            type: "track",
            event: "x",
            properties: { huge },
          }, {
            "x-beacon-key": s.key,
          });
          assert.equal(tooLarge.status, 413);
          assert.match(String(tooLarge.body.message), /512 KiB/);
          const big = {
            type: "track",
            event: "big",
            properties: { blob: "x".repeat(MAX_PROPERTIES_BYTES) },
          };
          const res = await post(s.url, {
            batch: [big, { type: "track", event: "small" }],
          }, {
            "x-beacon-key": s.key,
          });
          assert.equal(res.status, 200);
          assert.deepEqual(res.body.rejected, [{
            index: 0,
            error: `properties: are ${
              MAX_PROPERTIES_BYTES + 11
            } bytes as JSON; at most ${MAX_PROPERTIES_BYTES} per event`,
          }]);
          const tooMany = await post(s.url, {
            batch: Array.from(
              { length: MAX_BATCH + 1 },
              () => ({ type: "page" }),
            ),
          }, { "x-beacon-key": s.key });
          assert.equal(tooMany.status, 400);
          assert.match(
            String(tooMany.body.message),
            /batch: must hold at most 500 events; split it/,
          );
          assert.equal(
            (await post(s.url, "{not json", { "x-beacon-key": s.key })).status,
            400,
          );
          assert.deepEqual(
            (await storedEvents(s.user)).map((r) => r.event_name),
            ["small"],
          );
        },
      );

      await scenario(
        "timestamps outside [now - 7 days, now + 5 minutes] become now, flagged",
        async (s) => {
          const hourAgo = new Date(Date.now() - 3600_000).toISOString();
          await post(s.url, {
            batch: [
              {
                type: "track",
                event: "old",
                timestamp: "2020-01-01T00:00:00Z",
              },
              { type: "track", event: "recent", timestamp: hourAgo },
            ],
          }, { "x-beacon-key": s.key });
          const rows = await storedEvents(s.user);
          const old = rows.find((r) => r.event_name === "old")!;
          assert.equal(
            old.properties.timestamp_clamped,
            "2020-01-01T00:00:00+00:00",
          );
          assert.ok(Date.now() - old.timestamp.getTime() < 60_000);
          const recent = rows.find((r) => r.event_name === "recent")!;
          assert.equal(recent.timestamp.toISOString(), hourAgo);
          assert.equal(recent.properties.timestamp_clamped, undefined);
        },
      );

      await scenario(
        "a key's requests over the limit answer 429 with Retry-After",
        async (s) => {
          let first429: Answer | undefined;
          let sent = 0;
          // At most one window boundary passes in a burst: a refusal comes by 2 × limit + 1.
          while (!first429 && sent < 2 * PER_KEY + 1) {
            sent++;
            const res = await post(s.url, { type: "track", event: "burst" }, {
              "x-beacon-key": s.key,
            });
            if (res.status === 429) first429 = res;
            else assert.equal(res.status, 200);
          }
          assert.ok(first429, `a refusal within ${2 * PER_KEY + 1} requests`);
          assert.ok(sent > PER_KEY, `not before the limit (${sent})`);
          assert.ok(Number(first429.headers.get("retry-after")) >= 1);
          assert.equal(first429.body.error, "rate_limited");
        },
      );

      await scenario(
        "identify: the lead is created and the visitor's earlier views scored",
        async (s) => {
          await addEngagementRule(s.user, {
            event_type: "page",
            properties: { path: "/pricing" },
          }, 5);
          const views = [
            {
              type: "page",
              properties: {
                path: "/",
                utm_source: "news",
                utm_campaign: "launch",
              },
              anonymous_id: "v9",
            },
            {
              type: "page",
              properties: { path: "/pricing" },
              anonymous_id: "v9",
            },
            {
              type: "page",
              properties: { path: "/pricing" },
              anonymous_id: "v9",
            },
          ];
          assert.equal(
            (await post(s.url, { batch: views }, { "x-beacon-key": s.key }))
              .body.accepted,
            3,
          );
          assert.equal(await storedLead(s.user, "ada@example.com"), undefined);

          const res = await post(s.url, {
            type: "identify",
            email: "Ada@example.com",
            anonymous_id: "v9",
            properties: { first_name: "Ada" },
          }, { "x-beacon-key": s.key });
          assert.equal(res.status, 200);
          const lead = await storedLead(s.user, "ada@example.com");
          assert.ok(lead, "the lead exists");
          assert.deepEqual([lead.source, lead.first_name], ["website", "Ada"]);
          assert.equal(
            lead.event_points,
            10,
            "two pricing views, 5 points each, earned on attribution",
          );
          const pages = (await storedEvents(s.user)).filter((r) => r.event_type === "page");
          assert.deepEqual(pages.map((r) => r.properties.lead_id), [
            lead.id,
            lead.id,
            lead.id,
          ]);
          assert.deepEqual(
            {
              ...(lead.custom_fields.first_touch as Record<string, unknown>),
              at: undefined,
            },
            { utm_source: "news", utm_campaign: "launch", at: undefined },
          );

          // Later views of the known visitor carry the lead at insert, and score at once.
          await post(s.url, {
            type: "page",
            properties: { path: "/pricing" },
            anonymous_id: "v9",
          }, {
            "x-beacon-key": s.key,
          });
          const after = await storedLead(s.user, "ada@example.com");
          assert.equal(after!.event_points, 15);
          assert.equal(
            after!.score - lead.score,
            5,
            "the score moved by the rule's points",
          );
        },
      );

      await scenario(
        "UTM: every event type keeps its visit's, the lead keeps its first touch",
        async (s) => {
          const at = (hoursAgo: number) => new Date(Date.now() - hoursAgo * 3600_000).toISOString();
          const launch = { utm_source: "news", utm_medium: "email", utm_campaign: "launch" };
          const retarget = { utm_source: "ads", utm_medium: "cpc", utm_campaign: "retarget" };
          const url = "https://acme.example/pricing";
          // A visit from the newsletter, identified in the same batch: page, track, identify.
          const visit = (visitor: string, utm: Record<string, string>, hoursAgo: number) => ({
            batch: [
              {
                type: "page",
                properties: {
                  path: "/pricing",
                  url: `${url}?utm_campaign=${utm.utm_campaign}`,
                  ...utm,
                },
                anonymous_id: visitor,
                timestamp: at(hoursAgo),
              },
              {
                type: "track",
                event: "signup_click",
                properties: { plan: "pro", ...utm },
                anonymous_id: visitor,
                timestamp: at(hoursAgo - 0.1),
              },
              {
                type: "identify",
                email: "ada@example.com",
                properties: { first_name: "Ada", ...utm },
                anonymous_id: visitor,
                timestamp: at(hoursAgo - 0.2),
              },
            ],
          });
          const send = async (body: unknown) => {
            const res = await post(s.url, body, { "x-beacon-key": s.key });
            assert.deepEqual([res.status, res.body.accepted], [200, 3], JSON.stringify(res.body));
          };
          const firstTouch = async () => {
            const lead = await storedLead(s.user, "ada@example.com");
            return { ...(lead!.custom_fields.first_touch as Record<string, unknown>) };
          };

          const first = visit("v-first", launch, 48);
          await send(first);
          const touch = await firstTouch();
          assert.deepEqual(
            { ...touch, at: undefined },
            { ...launch, url: `${url}?utm_campaign=launch`, at: undefined },
            "the first page view's UTM and URL are the lead's first touch",
          );
          assert.equal(
            new Date(touch.at as string).getTime(),
            new Date(first.batch[0].timestamp).getTime(),
            "at the first page view's time",
          );

          // A later visit with other UTM from the same visitor, then one from another device
          // that arrives last though its events are older (sent late): each event keeps its own
          // visit's UTM; the first touch, once set, stays.
          await send(visit("v-first", retarget, 5));
          await send(visit("v-second-device", retarget, 72));
          assert.deepEqual(await firstTouch(), touch, "a later visit does not overwrite it");

          const events = await storedEvents(s.user);
          assert.deepEqual(
            events.map((e) => [e.anonymous_id, e.event_type, e.properties.utm_campaign]),
            [
              ["v-second-device", "page", "retarget"],
              ["v-second-device", "track", "retarget"],
              ["v-second-device", "identify", "retarget"],
              ["v-first", "page", "launch"],
              ["v-first", "track", "launch"],
              ["v-first", "identify", "launch"],
              ["v-first", "page", "retarget"],
              ["v-first", "track", "retarget"],
              ["v-first", "identify", "retarget"],
            ],
          );
          const lead = await storedLead(s.user, "ada@example.com");
          for (const event of events) {
            // The identify names its lead by email; the visit's other events are attributed.
            assert.equal(
              event.event_type === "identify" ? event.properties.email : event.properties.lead_id,
              event.event_type === "identify" ? "ada@example.com" : lead!.id,
              `${event.event_type} is about the lead`,
            );
            for (
              const [name, value] of Object.entries(
                event.properties.utm_campaign === "launch" ? launch : retarget,
              )
            ) {
              assert.equal(event.properties[name], value, `${event.event_type} keeps ${name}`);
            }
          }
        },
      );

      await scenario(
        "with create_leads off, an unknown email makes no lead",
        async (s) => {
          await asUser(
            s.user,
            (tx) => tx`insert into public.collect_settings (create_leads) values (false)`,
          );
          const res = await post(s.url, {
            type: "identify",
            email: "bob@example.com",
            anonymous_id: "v",
          }, {
            "x-beacon-key": s.key,
          });
          assert.equal(res.body.accepted, 1);
          assert.equal(await storedLead(s.user, "bob@example.com"), undefined);
        },
      );

      await scenario(
        "privacy signals and truncated addresses, when the owner asks",
        async (s) => {
          await asUser(
            s.user,
            (tx) =>
              tx`insert into public.collect_settings (truncate_ip, honor_privacy_signals) values (true, true)`,
          );
          const dnt = await post(s.url, { type: "page" }, {
            "x-beacon-key": s.key,
            dnt: "1",
          });
          assert.deepEqual([
            dnt.body.accepted,
            dnt.body.dropped,
            dnt.body.honor_privacy_signals,
          ], [0, 1, true]);
          const gpc = await post(s.url, {
            type: "page",
            write_key: s.key,
            privacy_signal: true,
          });
          assert.equal(gpc.body.dropped, 1);
          await post(s.url, { type: "page" }, {
            "x-beacon-key": s.key,
            "cf-connecting-ip": "198.51.100.77",
          });
          const rows = await storedEvents(s.user);
          assert.deepEqual(rows.map((r) => r.ip), ["198.51.100.0"]);
        },
      );
    } catch (err) {
      console.error(functions.log());
      throw err;
    } finally {
      await deleteUsers(...users);
      await functions.stop();
    }
  },
});

dbTest("collect serves beacon.js with cache headers", async () => {
  const { app } = await import("./app.ts");
  const res = await app.request("/collect/beacon.js");
  assert.equal(res.status, 200);
  assert.match(res.headers.get("content-type") ?? "", /^text\/javascript/);
  assert.match(res.headers.get("cache-control") ?? "", /max-age=3600/);
  assert.match(await res.text(), /window\.beacon = \{/);
});
