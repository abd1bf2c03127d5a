// GET /oauth/{platform}/go and /callback answer anyone: they are rate-limited per client address
// (the proxy's header, BEACON_CLIENT_IP_HEADER) and per state, against the fake platforms and the
// real local database. A browser over the limit gets a 429 page with Retry-After, and reloading
// after the wait goes on where it stopped: nothing was consumed.
import assert from "node:assert/strict";
import {
  APP_ORIGIN,
  appFor,
  authorize,
  begin,
  Browser,
  connectionOf,
  scenarios,
  visit,
} from "../_testing/oauth.ts";

const scenario = scenarios("oauth-limit");

/** A client address of its own per run (the limit's counts are in the shared database). */
const address = (network: string) => `${network}.${Math.floor(Math.random() * 250) + 1}`;

scenario(
  "a browser over the limit gets an honest 429 page and can finish later",
  async ({ fakes, user }) => {
    const app = appFor(fakes, { BEACON_RATE_LIMIT_OAUTH_PER_IP: "2" });
    const browser = new Browser();
    const here = {
      "cf-connecting-ip": address("198.51.100"),
      accept: "text/html",
    };
    const go = await begin(app, user, "twitter");

    const first = await visit(app, go, browser, here);
    assert.equal(first.status, 302, "the first /go goes to the platform");
    const back = await authorize(new URL(first.location!));
    const second = await visit(app, go, browser, here);
    assert.equal(
      second.status,
      302,
      "a second one too (the limit is two a minute)",
    );

    const refused = await visit(app, back, browser, here);
    assert.equal(
      refused.status,
      429,
      "the callback from the same address, a third request, waits",
    );
    assert.ok(
      Number(refused.headers.get("retry-after")) > 0,
      "with Retry-After",
    );
    assert.match(
      refused.headers.get("content-type") ?? "",
      /text\/html/,
      "a page, for the browser",
    );
    assert.match(
      String(refused.body.text),
      /Too many requests: try again in \d+ seconds\. Reload this page then, or start connecting again from the app\./,
    );
    assert.equal(
      await connectionOf(user, "twitter"),
      undefined,
      "nothing is connected yet",
    );

    // The reload, once the address may ask again (here: the same browser from another address).
    const reloaded = await visit(app, back, browser, {
      ...here,
      "cf-connecting-ip": address("203.0.113"),
    });
    assert.equal(reloaded.status, 302, JSON.stringify(reloaded.body));
    assert.equal(
      reloaded.location,
      `${APP_ORIGIN}/settings/connections?connected=twitter`,
    );
    assert.ok(
      await connectionOf(user, "twitter"),
      "the refused request consumed nothing: it connects",
    );
  },
);

scenario(
  "each state is limited too, whatever the address",
  async ({ fakes, user }) => {
    const app = appFor(fakes, { BEACON_RATE_LIMIT_OAUTH_PER_TOKEN: "2" });
    const browser = new Browser();
    const go = await begin(app, user, "linkedin");
    const statuses = [];
    for (let n = 0; n < 3; n++) {
      const answer = await visit(app, go, browser, {
        "cf-connecting-ip": address("192.0.2"),
      });
      statuses.push(answer.status);
      if (answer.status === 429) {
        assert.equal(
          answer.body.error,
          "rate_limited",
          "JSON for a client that asked for no page",
        );
      }
    }
    assert.deepEqual(statuses, [302, 302, 429]);
  },
);
