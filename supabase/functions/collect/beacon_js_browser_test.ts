// What beacon.js promises (beacon_js.ts), in a real browser: headless Chromium (Debian's
// chromium) on local pages whose snippet sends to collect through a recorder that passes every
// request on and notes how it came (collectRecorder). Leaving or closing a page sends the queue
// with navigator.sendBeacon; events are batched (one request after the snippet's 1 s delay, or
// at 20 events); the anonymous id outlives the page; Do-Not-Track and Global Privacy Control
// stop the snippet once the owner honours them.
import assert from "node:assert/strict";
import {
  collectRecorder,
  createWriteKey,
  type RecordedRequest,
  storedEvents,
} from "../_testing/collect.ts";
import { type Browser, type BrowserSettings, openBrowser } from "../_testing/browser.ts";
import { serveFunctions } from "../_testing/email.ts";
import { asUser, type UserClaims } from "../_shared/db.ts";
import { createUser, deleteUsers, until } from "../_testing/harness.ts";

// The snippet's batching (beacon_js.ts): sent 1 s after the first queued event, or at 20.
const BATCH_DELAY_MS = 1000;
const BATCH_SIZE = 20;

/**
 * A site of `user` with the snippet on every page: /auto/<name> records its page view
 * itself, /quiet/<name> does not (data-auto-page="false"), so only the test's events go.
 */
async function withSite(
  name: string,
  test: (
    site: {
      origin: string;
      user: UserClaims;
      requests: RecordedRequest[];
      browser: Browser;
    },
  ) => Promise<void>,
  settings: BrowserSettings = {},
) {
  const functions = await serveFunctions();
  const user = await createUser(name);
  const key = await createWriteKey(user, "site");
  const recorder = collectRecorder(functions.url);
  const site = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen: () => {} },
    (request) => {
      const path = new URL(request.url).pathname;
      const auto = path.startsWith("/auto/") ? "" : ' data-auto-page="false"';
      return new Response(
        `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${path}</title>
<script src="${functions.url}/collect/beacon.js" data-key="${key}"
        data-endpoint="${recorder.url}"${auto} defer></script>
</head><body><h1>${path}</h1></body></html>`,
        { headers: { "content-type": "text/html; charset=utf-8" } },
      );
    },
  );
  const browser = await openBrowser(settings);
  try {
    await test({
      origin: `http://127.0.0.1:${site.addr.port}`,
      user,
      requests: recorder.requests,
      browser,
    });
  } catch (err) {
    console.error(functions.log());
    throw err;
  } finally {
    await browser.close();
    await site.shutdown();
    await recorder.close();
    await deleteUsers(user);
    await functions.stop();
  }
}

const names = (request: RecordedRequest) =>
  (request.body.batch ?? []).map((event) => event.event ?? event.type);
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

const browserTest = (name: string, fn: () => Promise<void>) =>
  Deno.test({ name, sanitizeResources: false, sanitizeOps: false, fn });

browserTest(
  "beacon.js in Chromium: leaving or closing the page sends the queue with sendBeacon, no flush",
  () =>
    withSite("beacon-hide", async ({ origin, user, requests, browser }) => {
      await browser.goto(`${origin}/quiet/first`);
      // Queued (its 1 s timer pending) and the page left at once.
      await browser.navigateBy(
        `beacon.track("leaving", { step: 1 }); location.href = "/quiet/second"`,
      );
      await until("the leaving event arrives", () => requests.length === 1);
      assert.deepEqual(names(requests[0]), ["leaving"]);
      assert.equal(
        requests[0].mode,
        "no-cors",
        "sent by navigator.sendBeacon, not fetch",
      );
      assert.match(requests[0].contentType ?? "", /^text\/plain/);

      await browser.evaluate(`beacon.track("closing", { step: 2 })`);
      await browser.closeTab();
      await until("the closing event arrives", () => requests.length === 2);
      assert.deepEqual(names(requests[1]), ["closing"]);
      assert.equal(requests[1].mode, "no-cors");

      await until("both are rows", async () => (await storedEvents(user)).length === 2);
      const rows = await storedEvents(user);
      assert.deepEqual(rows.map((r) => [r.event_name, r.properties.step]), [
        ["leaving", 1],
        ["closing", 2],
      ]);
      assert.deepEqual(
        rows.map((r) => r.properties.path ?? null),
        [null, null],
        "only the tracked events: the pages record no views of their own here",
      );
    }),
);

browserTest(
  "beacon.js in Chromium: track calls go as one request after the batch delay, or at 20 events",
  () =>
    withSite("beacon-batch", async ({ origin, user, requests, browser }) => {
      await browser.goto(`${origin}/quiet/shop`);
      const queuedAt = await browser.evaluate<number>(
        `beacon.track("a"); beacon.track("b"); beacon.track("c"); Date.now()`,
      );
      await until("the batch arrives", () => requests.length === 1);
      await sleep(BATCH_DELAY_MS + 500);
      assert.equal(requests.length, 1, "three calls, one request");
      assert.deepEqual(names(requests[0]), ["a", "b", "c"]);
      assert.equal(
        requests[0].mode,
        "cors",
        "sent by fetch while the page stays",
      );
      assert.ok(
        requests[0].at - queuedAt >= BATCH_DELAY_MS - 100,
        `sent after the batch delay, not at once (${requests[0].at - queuedAt} ms)`,
      );

      const burstAt = await browser.evaluate<number>(
        `for (var i = 0; i < 25; i++) beacon.track("e" + i); Date.now()`,
      );
      await until("the burst arrives", () => requests.length === 3);
      await sleep(BATCH_DELAY_MS + 500);
      assert.equal(requests.length, 3, "25 calls, two requests");
      assert.deepEqual(
        names(requests[1]),
        Array.from({ length: BATCH_SIZE }, (_, i) => `e${i}`),
        "the first 20 go as soon as they are queued",
      );
      assert.deepEqual(names(requests[2]), ["e20", "e21", "e22", "e23", "e24"]);
      assert.ok(
        requests[2].at - burstAt >= BATCH_DELAY_MS - 100,
        `the other 5 after the batch delay (${requests[2].at - burstAt} ms)`,
      );

      await until(
        "every event is a row",
        async () => (await storedEvents(user)).length === 28,
      );
    }),
);

browserTest(
  "beacon.js in Chromium: the anonymous id persists across page loads",
  () =>
    withSite("beacon-identity", async ({ origin, user, requests, browser }) => {
      await browser.goto(`${origin}/auto/one`);
      await browser.goto(`${origin}/auto/two`);
      await until(
        "both page views are rows",
        async () => (await storedEvents(user)).length === 2,
      );
      const stored = await browser.evaluate<string>(
        `localStorage.getItem("beacon_anonymous_id")`,
      );
      assert.ok(stored, "the id is kept in localStorage");
      assert.equal(
        await browser.evaluate<string>("beacon.anonymousId()"),
        stored,
      );
      const rows = await storedEvents(user);
      assert.deepEqual(rows.map((r) => [r.properties.path, r.anonymous_id]), [
        ["/auto/one", stored],
        ["/auto/two", stored],
      ]);
      assert.notEqual(rows[0].message_id, rows[1].message_id);
      assert.equal(requests.length, 2, "a request for each page");

      // A visitor who clears the site's storage is a new visitor.
      await browser.evaluate("localStorage.clear()");
      await browser.goto(`${origin}/auto/three`);
      await until(
        "the third view is a row",
        async () => (await storedEvents(user)).length === 3,
      );
      const third = (await storedEvents(user))[2];
      assert.equal(third.properties.path, "/auto/three");
      assert.ok(
        third.anonymous_id && third.anonymous_id !== stored,
        "a new id",
      );
    }),
);

const honourSignals = (user: UserClaims, honour: boolean) =>
  asUser(
    user,
    (tx) =>
      tx`insert into public.collect_settings (honor_privacy_signals) values (${honour})
       on conflict (user_id) do update set honor_privacy_signals = excluded.honor_privacy_signals`,
  );

browserTest(
  "beacon.js in Chromium: with Do-Not-Track on and the owner honouring it, nothing is kept and the snippet stops",
  () =>
    withSite("beacon-dnt", async ({ origin, user, requests, browser }) => {
      await honourSignals(user, true);
      await browser.goto(`${origin}/auto/one`);
      assert.equal(
        await browser.evaluate("navigator.doNotTrack"),
        "1",
        "the browser's setting",
      );
      await until("the page view is sent", () => requests.length === 1);
      assert.equal(
        requests[0].body.privacy_signal,
        true,
        "marked with the browser's signal",
      );
      await until(
        "the snippet forgets the id",
        async () =>
          await browser.evaluate<boolean>(
            `localStorage.getItem("beacon_anonymous_id") === null`,
          ),
      );
      assert.equal(
        await browser.evaluate(`sessionStorage.getItem("beacon_off")`),
        "1",
      );

      // Stopped: neither later events nor the next page of the visit are sent.
      await browser.evaluate(`beacon.track("after")`);
      await browser.goto(`${origin}/auto/two`);
      await sleep(BATCH_DELAY_MS + 500);
      assert.equal(requests.length, 1, "nothing more was sent");
      assert.equal(
        await browser.evaluate(`localStorage.getItem("beacon_anonymous_id")`),
        null,
        "no id is kept on the next page either",
      );
      assert.deepEqual(await storedEvents(user), [], "the server kept nothing");
    }, { doNotTrack: true }),
);

browserTest(
  "beacon.js in Chromium: Global Privacy Control is sent; events count until the owner honours it",
  () =>
    withSite("beacon-gpc", async ({ origin, user, requests, browser }) => {
      // Chromium has no GPC switch; browsers that have one expose it so, before any script.
      await browser.beforePageScripts(
        `Object.defineProperty(Navigator.prototype, "globalPrivacyControl", { get: () => true })`,
      );
      await browser.goto(`${origin}/auto/one`);
      await until("the page view is a row", async () => (await storedEvents(user)).length === 1);
      assert.equal(requests[0].body.privacy_signal, true);
      const id = await browser.evaluate<string>(
        `localStorage.getItem("beacon_anonymous_id")`,
      );
      assert.ok(id, "the owner does not honour the signal: the id is kept");
      assert.equal((await storedEvents(user))[0].anonymous_id, id);

      await honourSignals(user, true);
      await browser.goto(`${origin}/auto/two`);
      await until(
        "the snippet forgets the id",
        async () =>
          await browser.evaluate<boolean>(
            `localStorage.getItem("beacon_anonymous_id") === null`,
          ),
      );
      assert.equal(requests.length, 2, "the second view was sent, marked");
      assert.equal(requests[1].body.privacy_signal, true);
      assert.deepEqual(
        (await storedEvents(user)).map((r) => r.properties.path),
        ["/auto/one"],
        "the second view was dropped",
      );
    }),
);
