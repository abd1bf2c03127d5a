// POST /oauth/{platform}/start and GET /oauth/{platform}/callback against the fake platforms
// over real HTTP and the real local database.
import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { DecryptError } from "../_shared/crypto.ts";
import { asService, type UserClaims } from "../_shared/db.ts";
import { s256 } from "../_testing/fakes/state.ts";
import { PLATFORMS } from "../_shared/providers/config.ts";
import { createUser, dbTest, deleteUsers } from "../_testing/harness.ts";
import { ConfigError } from "../_shared/env.ts";
import {
  type Answer,
  APP_ORIGIN,
  appFor,
  authorize,
  begin,
  Browser,
  call,
  callback,
  CALLBACK_BASE,
  connect,
  connectionOf,
  DEFAULT_RETURN,
  plaintext,
  scenarios,
  start,
  usersBrowser,
  visit,
} from "../_testing/oauth.ts";
import { createOAuthApp } from "./app.ts";
import { readOAuthSettings } from "./settings.ts";

const RETURN_TO = `${APP_ORIGIN}/settings/connections`;

/** The query the browser ends up with at the app. */
const outcome = (url: URL) => Object.fromEntries(url.searchParams);

const statesOf = async (user: UserClaims) =>
  await asService((tx) =>
    tx`select encode(state_hash, 'hex') as hash, platform, code_verifier, redirect_to,
              encode(browser_hash, 'hex') as browser_hash,
              extract(epoch from expires_at - created_at)::int as lifetime
       from private.oauth_states where user_id = ${user.sub}`
  );

async function assertNothingStored(user: UserClaims) {
  const rows = await asService((tx) =>
    tx`select platform from public.social_connections where user_id = ${user.sub}`
  );
  assert.deepEqual([...rows], [], "no connection is stored");
}

const scenario = scenarios("oauth");

scenario(
  "each platform connects: encrypted tokens bound to their owner, scopes, expiry, profile",
  async ({ fakes, app, user }) => {
    const other = await createUser("someone-else");
    try {
      for (const platform of PLATFORMS) {
        const fake = fakes[platform];
        const landed = await connect(app, user, platform);
        assert.equal(landed.href, `${RETURN_TO}?connected=${platform}`);

        const row = await connectionOf(user, platform);
        assert.ok(row, `${platform}: a connection is stored`);
        assert.equal(row.status, "active");
        assert.equal(row.is_active, true);
        assert.equal(row.last_error, null);
        assert.equal(row.platform_user_id, fake.account.id);
        assert.ok(
          row.expires_at && row.expires_at.getTime() > Date.now() + 3000_000,
          platform,
        );
        assert.ok(row.last_refreshed_at);

        assert.match(
          row.access_token,
          /^v\d+\.[\w-]+\.[\w-]+$/,
          "a Beacon ciphertext",
        );
        const access = await plaintext(
          user,
          platform,
          "access_token",
          row.access_token,
        );
        assert.ok(
          fake.accessGrant(access),
          `${platform}: the stored token is the live one`,
        );
        assert.equal(row.access_token.includes(access), false);
        await assert.rejects(
          plaintext(other, platform, "access_token", row.access_token),
          DecryptError,
        );
        await assert.rejects(
          plaintext(user, platform, "refresh_token", row.access_token),
          DecryptError,
        );

        if (platform === "twitter" || platform === "linkedin") {
          assert.ok(row.refresh_token);
          const refresh = await plaintext(
            user,
            platform,
            "refresh_token",
            row.refresh_token,
          );
          assert.ok(
            fake.refreshTokens.has(refresh),
            `${platform}: the live refresh token`,
          );
        } else {
          assert.equal(
            row.refresh_token,
            null,
            `${platform} has no refresh tokens`,
          );
        }
      }

      const rows = Object.fromEntries(
        await Promise.all(
          PLATFORMS.map(async (p) => [p, (await connectionOf(user, p))!]),
        ),
      );
      assert.deepEqual(rows.twitter.scopes, [
        "offline.access",
        "tweet.read",
        "tweet.write",
        "users.read",
      ]);
      assert.equal(rows.twitter.username, "twitter_tester");
      assert.deepEqual(rows.linkedin.scopes, [
        "openid",
        "profile",
        "r_organization_social",
        "rw_organization_admin",
        "w_member_social",
        "w_organization_social",
      ]);
      assert.equal(rows.linkedin.username, "Tess Tester");
      // The Company Page the member administers, by its URN: what a target's account_id names.
      assert.deepEqual(rows.linkedin.accounts, [{
        id: "urn:li:organization:10000001",
        name: "Beacon Demo Company",
      }]);
      assert.deepEqual(rows.facebook.scopes, [
        "pages_manage_posts",
        "pages_read_engagement",
        "pages_show_list",
        "public_profile",
      ]);
      assert.deepEqual(rows.facebook.accounts, [{
        id: "page-1",
        name: "Beacon Demo Page",
      }]);
      // Facebook's and Instagram's tokens are the long-lived ones (about 60 days).
      for (const platform of ["facebook", "instagram"]) {
        const days = (rows[platform].expires_at!.getTime() - Date.now()) /
          86400_000;
        assert.ok(days > 59 && days <= 60, `${platform}: ${days} days`);
      }
      assert.equal(fakes.facebook.hits.exchange, 1);
      assert.equal(fakes.instagram.hits.exchange, 1);
      // Instagram's user_id is a number too large for JavaScript: kept exact.
      assert.equal(rows.instagram.platform_user_id, "17841405793187218");
      assert.deepEqual(rows.instagram.scopes, [
        "instagram_business_basic",
        "instagram_business_content_publish",
      ]);
      assert.deepEqual(
        [...await statesOf(user)],
        [],
        "every state was consumed",
      );
    } finally {
      await deleteUsers(other);
    }
  },
);

scenario(
  "start stores a single-use state, hashed, for ten minutes; X gets PKCE S256",
  async ({ app, user }) => {
    const x = await start(app, user, "twitter");
    const li = await start(
      app,
      user,
      "linkedin",
      "http://localhost:3000/beacon/done",
    );
    const fb = await start(app, user, "facebook");
    const ig = await start(app, user, "instagram");

    const states = await statesOf(user);
    assert.equal(states.length, 4);
    for (const url of [x, li, fb, ig]) {
      const state = url.searchParams.get("state")!;
      assert.ok(state.length >= 43, "a random state");
      const hash = Buffer.from(
        await crypto.subtle.digest("SHA-256", new TextEncoder().encode(state)),
      ).toString("hex");
      const row = states.find((s) => s.hash === hash);
      assert.ok(row, "only the SHA-256 of the state is stored");
      assert.equal(JSON.stringify(row).includes(state), false);
      assert.equal(row.lifetime, 600, "valid for ten minutes");
      assert.match(row.browser_hash ?? "", /^[0-9a-f]{64}$/, "bound to the browser at /go");
      assert.equal(url.searchParams.get("response_type"), "code");
      assert.equal(
        url.searchParams.get("redirect_uri"),
        `${CALLBACK_BASE}/${row.platform}/callback`,
      );
    }

    const xRow = states.find((s) => s.platform === "twitter")!;
    assert.equal(x.searchParams.get("code_challenge_method"), "S256");
    assert.equal(
      x.searchParams.get("code_challenge"),
      await s256(xRow.code_verifier),
    );
    assert.equal(
      x.searchParams.get("scope"),
      "tweet.read tweet.write users.read offline.access",
    );
    assert.equal(x.searchParams.get("client_id"), "fake-twitter-client");

    assert.equal(li.searchParams.get("code_challenge"), null);
    assert.equal(
      li.searchParams.get("scope"),
      "openid profile w_member_social rw_organization_admin w_organization_social " +
        "r_organization_social",
    );
    assert.equal(
      states.find((s) => s.platform === "linkedin")!.redirect_to,
      "http://localhost:3000/beacon/done",
    );
    assert.equal(
      fb.searchParams.get("scope"),
      "public_profile,pages_show_list,pages_read_engagement,pages_manage_posts",
    );
    assert.equal(fb.searchParams.get("auth_type"), "rerequest");
    assert.equal(
      ig.searchParams.get("scope"),
      "instagram_business_basic,instagram_business_content_publish",
    );
  },
);

scenario(
  "the user saying no comes back as error=access_denied; nothing stored",
  async ({ fakes, app, user }) => {
    for (const platform of PLATFORMS) {
      fakes[platform].deny = true;
      const landed = await connect(app, user, platform);
      assert.deepEqual(
        outcome(landed),
        { error: "access_denied", platform },
        platform,
      );
      assert.equal(
        fakes[platform].hits.token,
        undefined,
        `${platform}: no code exchange`,
      );
    }
    await assertNothingStored(user);
  },
);

scenario(
  "a token endpoint 4xx or 5xx comes back as token_exchange_failed",
  async ({ fakes, app, user }) => {
    for (const platform of PLATFORMS) {
      // 4xx: a code the platform does not know.
      const back = await authorize(await start(app, user, platform));
      back.searchParams.set("code", "not-a-code-we-issued");
      const refused = await callback(app, back);
      assert.deepEqual(outcome(new URL(refused.location!)), {
        error: "token_exchange_failed",
        platform,
      });

      // 5xx from the token endpoint.
      fakes[platform].failNext("token", "server_error");
      assert.deepEqual(outcome(await connect(app, user, platform)), {
        error: "token_exchange_failed",
        platform,
      });
    }
    // The long-lived exchange failing fails the connection too.
    for (const platform of ["facebook", "instagram"] as const) {
      fakes[platform].failNext("exchange", "rate_limited");
      assert.deepEqual(outcome(await connect(app, user, platform)), {
        error: "token_exchange_failed",
        platform,
      });
    }
    await assertNothingStored(user);
  },
);

scenario(
  "a failed profile request comes back as profile_failed",
  async ({ fakes, app, user }) => {
    for (const platform of PLATFORMS) {
      fakes[platform].failNext(
        "profile",
        platform === "twitter" ? "rate_limited" : "server_error",
      );
      assert.deepEqual(outcome(await connect(app, user, platform)), {
        error: "profile_failed",
        platform,
      });
    }
    fakes.facebook.failNext("accounts", "server_error");
    assert.deepEqual(outcome(await connect(app, user, "facebook")), {
      error: "profile_failed",
      platform: "facebook",
    });
    fakes.linkedin.failNext("organizations", "server_error");
    assert.deepEqual(outcome(await connect(app, user, "linkedin")), {
      error: "profile_failed",
      platform: "linkedin",
    });
    await assertNothingStored(user);
  },
);

scenario(
  "a missing posting scope is reported at connect time",
  async ({ fakes, app, user }) => {
    const withheld = {
      twitter: "tweet.write",
      linkedin: "w_member_social",
      facebook: "pages_manage_posts",
      instagram: "instagram_business_content_publish",
    } as const;
    for (const platform of PLATFORMS) {
      const url = await start(app, user, platform);
      const asked = url.searchParams.get("scope")!.split(/[ ,]/);
      fakes[platform].grantScopes = asked.filter((scope) => scope !== withheld[platform]);
      const answer = await callback(app, await authorize(url));
      assert.deepEqual(outcome(new URL(answer.location!)), {
        error: "missing_scope",
        platform,
        missing_scopes: withheld[platform],
      });
    }
    await assertNothingStored(user);
  },
);

/** The browser was sent back to the app's default return URL with error=invalid_state. */
function assertStartAgain(answer: Answer, platform: string, what: string) {
  assert.equal(answer.status, 302, `${what}: ${JSON.stringify(answer.body)}`);
  const landed = new URL(answer.location!);
  assert.equal(`${landed.origin}${landed.pathname}`, DEFAULT_RETURN, what);
  assert.deepEqual(outcome(landed), { error: "invalid_state", platform }, what);
  assert.equal(answer.headers.get("cache-control"), "no-store", what);
}

scenario(
  "unknown, replayed, expired and cross-platform states go back to the app, never to an error page",
  async ({ fakes, app, user }) => {
    // Unknown or absent: nothing to consume, and no page of our own.
    for (
      const query of [
        "?code=abc&state=made-up",
        "?code=abc",
        "?error=access_denied",
        `?code=abc&state=${"x".repeat(600)}`,
      ]
    ) {
      assertStartAgain(await call(app, "GET", `/twitter/callback${query}`), "twitter", query);
      assertStartAgain(await call(app, "GET", `/twitter/go${query}`), "twitter", `go${query}`);
    }

    // Replayed: the first use consumed it, in the same browser.
    const back = await authorize(await start(app, user, "twitter"));
    const cookies = new Map(usersBrowser.cookies);
    assert.equal((await callback(app, back)).status, 302);
    assertStartAgain(await callback(app, back), "twitter", "replayed, its cookie cleared");
    for (const [name, value] of cookies) usersBrowser.cookies.set(name, value);
    assertStartAgain(await callback(app, back), "twitter", "replayed with its cookie kept");
    assert.equal(fakes.twitter.hits.token, 1, "the replay never reached the token endpoint");

    // Expired: ten minutes passed between /go and the callback.
    const late = await authorize(await start(app, user, "linkedin"));
    await asService((tx) =>
      tx`update private.oauth_states
       set created_at = now() - interval '11 minutes', expires_at = now() - interval '1 minute'
       where user_id = ${user.sub}`
    );
    assertStartAgain(await callback(app, late), "linkedin", "expired");
    assert.equal(fakes.linkedin.hits.token, undefined);
    assert.deepEqual([...await statesOf(user)], [], "the expired state is gone");

    // Expired before the browser reached /go: /go sends it back too, and binds nothing.
    const stale = await begin(app, user, "facebook");
    await asService((tx) =>
      tx`update private.oauth_states
       set created_at = now() - interval '11 minutes', expires_at = now() - interval '1 minute'
       where user_id = ${user.sub}`
    );
    const browser = new Browser();
    assertStartAgain(await visit(app, stale, browser), "facebook", "expired at /go");
    assert.equal(browser.cookies.size, 0, "no cookie for an expired state");
    assert.equal(fakes.facebook.hits.authorize, undefined);

    // A state issued for X presented to LinkedIn's /go: refused, unbound.
    const xGo = await begin(app, user, "twitter");
    const crossedGo = new URL(xGo.href.replace("/twitter/go", "/linkedin/go"));
    assertStartAgain(await visit(app, crossedGo), "linkedin", "crossed at /go");

    // ... and to LinkedIn's callback: refused, and burnt.
    const xBack = await authorize(await start(app, user, "twitter"));
    const crossed = new URL(xBack);
    crossed.pathname = crossed.pathname.replace("/twitter/", "/linkedin/");
    const cross = await callback(app, crossed);
    assert.deepEqual(outcome(new URL(cross.location!)), {
      error: "invalid_state",
      platform: "linkedin",
    });
    assertStartAgain(await callback(app, xBack), "twitter", "the crossed state is used up");
    assert.equal(fakes.linkedin.hits.token, undefined);

    const rows = await asService((tx) =>
      tx`select platform from public.social_connections where user_id = ${user.sub}`
    );
    assert.deepEqual(
      rows.map((r) => r.platform),
      ["twitter"],
      "only the first, valid callback stored",
    );
  },
);

scenario(
  "the connection is bound to the browser that started it: another browser's callback changes nothing",
  async ({ fakes, app, user }) => {
    // The user's app sends their browser to /go: it gets the state's cookie, then X.
    const go = await begin(app, user, "twitter");
    const went = await visit(app, go);
    assert.equal(went.status, 302);
    assert.ok(went.location!.startsWith(`${fakes.url}/twitter/i/oauth2/authorize?`));
    const setCookie = went.headers.getSetCookie();
    assert.equal(setCookie.length, 1, "one cookie, for this state");
    assert.match(setCookie[0], /^beacon_oauth_[0-9a-f]{16}=[\w-]{43}; /);
    for (
      const attribute of [
        "HttpOnly",
        "Secure",
        "SameSite=Lax",
        "Path=/functions/v1/oauth/",
        "Max-Age=600",
      ]
    ) {
      assert.ok(setCookie[0].split("; ").includes(attribute), `${attribute} in ${setCookie[0]}`);
    }
    const [[name, nonce]] = [...usersBrowser.cookies].filter(([n]) => setCookie[0].startsWith(n));
    const [state] = await statesOf(user);
    assert.equal(
      state.browser_hash,
      Buffer.from(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(nonce)))
        .toString("hex"),
      "only the SHA-256 of the cookie's nonce is stored",
    );

    // The /go link forwarded to someone else: refused, no cookie for them.
    const stranger = new Browser();
    assertStartAgain(await visit(app, go, stranger), "twitter", "/go in another browser");
    assert.equal(stranger.cookies.size, 0);
    // The user's own browser may open it again (a reload), and keeps its cookie.
    const again = await visit(app, go);
    assert.equal(again.status, 302);
    assert.deepEqual(again.headers.getSetCookie(), [], "the bound cookie is kept, not replaced");

    // The provider's URL forwarded too: the stranger signs in at X with their own account and
    // arrives at our callback without the cookie...
    fakes.twitter.account = { id: "stranger-1", username: "stranger", name: "Stranger" };
    const back = await authorize(new URL(went.location!));
    assertStartAgain(await callback(app, back, stranger), "twitter", "no cookie");
    // ... or with a cookie of the right name holding another browser's nonce.
    const other = new Browser();
    await start(app, user, "linkedin", undefined, other);
    stranger.cookies.set(name, [...other.cookies.values()][0]);
    assertStartAgain(await callback(app, back, stranger), "twitter", "another browser's cookie");
    stranger.cookies.set(name, "A".repeat(43));
    assertStartAgain(await callback(app, back, stranger), "twitter", "a made-up cookie");

    // Nothing changed: no connection, no code exchange, the state still there for its browser.
    await assertNothingStored(user);
    assert.equal(fakes.twitter.hits.token, undefined, "the stranger's code was never exchanged");
    assert.ok(
      (await statesOf(user)).some((s) =>
        s.hash === state.hash && s.browser_hash === state.browser_hash
      ),
      "the state is untouched",
    );

    // The user's browser finishes it: connected as the user's own account.
    fakes.twitter.account = { id: "twitter-user-1", username: "twitter_tester", name: "Tess" };
    const own = await callback(app, await authorize(new URL(went.location!)));
    assert.deepEqual(outcome(new URL(own.location!)), { connected: "twitter" });
    assert.equal((await connectionOf(user, "twitter"))!.platform_user_id, "twitter-user-1");
    assert.ok(
      own.headers.getSetCookie().some((c) => c.startsWith(`${name}=;`) && /Max-Age=0/.test(c)),
      "the used cookie is cleared",
    );
  },
);

scenario(
  "two connections started at once in one browser both finish",
  async ({ app, user }) => {
    const browser = new Browser();
    const x = await authorize(await start(app, user, "twitter", undefined, browser));
    const li = await authorize(await start(app, user, "linkedin", undefined, browser));
    assert.equal(browser.cookies.size, 2, "a cookie per state");
    assert.deepEqual(outcome(new URL((await callback(app, li, browser)).location!)), {
      connected: "linkedin",
    });
    assert.deepEqual(outcome(new URL((await callback(app, x, browser)).location!)), {
      connected: "twitter",
    });
  },
);

Deno.test("the default return URL: set, else the allow-list's first entry; a bad one stops the start", () => {
  const env = {
    BEACON_OAUTH_REDIRECT_ALLOWLIST: "https://app.example.com/beacon/,http://localhost:3000",
  };
  assert.equal(readOAuthSettings(env).defaultReturn, "https://app.example.com/beacon/");
  assert.equal(
    readOAuthSettings({ ...env, BEACON_OAUTH_DEFAULT_RETURN_URL: "http://localhost:3000/oops" })
      .defaultReturn,
    "http://localhost:3000/oops",
  );
  for (
    const [value, why] of [
      ["https://evil.example/", /not under BEACON_OAUTH_REDIRECT_ALLOWLIST/],
      ["javascript:alert(1)", /not usable/],
      ["http://app.example.com/beacon/", /not usable: .*https/],
      ["https://app.example.com/beacon/?x=1", /not usable/],
      ["https://app.example.com/beacon/a,https://app.example.com/beacon/b", /one URL/],
    ] as const
  ) {
    assert.throws(
      () => readOAuthSettings({ ...env, BEACON_OAUTH_DEFAULT_RETURN_URL: value }),
      (err: Error) =>
        err instanceof ConfigError && /BEACON_OAUTH_DEFAULT_RETURN_URL/.test(err.message) &&
        why.test(err.message),
      value,
    );
  }
  assert.equal(readOAuthSettings({}).defaultReturn, undefined);
});

dbTest("with no return URL configured at all, a bad state gets a page, not JSON", async () => {
  const bare = createOAuthApp(readOAuthSettings({}));
  const answer = await call(bare, "GET", "/twitter/callback?state=made-up&code=abc");
  assert.equal(answer.status, 400);
  assert.match(answer.headers.get("content-type")!, /^text\/html/);
  assert.match(answer.body.text as string, /Start connecting again from the app/);
});

scenario(
  "redirect_to outside the allow-list is refused at start; nothing stored",
  async ({ app, user }) => {
    for (
      const target of [
        "https://evil.example/",
        "https://app.beacon.test.evil.example/",
        "https://app.beacon.test@evil.example/",
        "//evil.example",
        "http://app.beacon.test/",
        "http://localhost:3000/other",
        "javascript:alert(1)",
      ]
    ) {
      const answer = await call(app, "POST", "/twitter/start", user, {
        redirect_to: target,
      });
      assert.equal(answer.status, 400, target);
      assert.equal(answer.body.error, "redirect_not_allowed");
      assert.match(
        answer.body.message as string,
        /https:\/\/app\.beacon\.test/,
      );
    }
    const missing = await call(app, "POST", "/twitter/start", user, {});
    assert.equal(missing.status, 400);
    assert.equal(missing.body.error, "invalid_request");
    assert.deepEqual([...await statesOf(user)], []);
  },
);

scenario(
  "unknown platform, unconfigured platform, missing settings, no token",
  async ({ fakes, app, user }) => {
    const body = { redirect_to: RETURN_TO };
    const unknown = await call(app, "POST", "/myspace/start", user, body);
    assert.equal(unknown.status, 404);
    assert.equal(unknown.body.error, "unknown_platform");
    assert.match(
      unknown.body.message as string,
      /twitter, linkedin, facebook, instagram/,
    );
    assert.equal(
      (await call(app, "GET", "/myspace/callback?state=x")).status,
      404,
    );

    const bare = appFor(fakes, {
      BEACON_FACEBOOK_CLIENT_ID: "",
      BEACON_FACEBOOK_CLIENT_SECRET: "",
    });
    const unconfigured = await call(
      bare,
      "POST",
      "/facebook/start",
      user,
      body,
    );
    assert.equal(unconfigured.status, 503);
    assert.equal(unconfigured.body.error, "platform_not_configured");
    assert.match(
      unconfigured.body.message as string,
      /BEACON_FACEBOOK_CLIENT_ID and BEACON_FACEBOOK_CLIENT_SECRET/,
    );
    assert.equal(
      (await call(bare, "POST", "/twitter/start", user, body)).status,
      200,
    );

    const noList = appFor(fakes, { BEACON_OAUTH_REDIRECT_ALLOWLIST: "" });
    const refused = await call(noList, "POST", "/twitter/start", user, body);
    assert.equal(refused.status, 503);
    assert.match(
      refused.body.message as string,
      /BEACON_OAUTH_REDIRECT_ALLOWLIST/,
    );

    const noBase = appFor(fakes, { BEACON_OAUTH_CALLBACK_BASE_URL: "" });
    const noCallback = await call(noBase, "POST", "/twitter/start", user, body);
    assert.equal(noCallback.status, 503);
    assert.match(
      noCallback.body.message as string,
      /SUPABASE_URL or BEACON_OAUTH_CALLBACK_BASE_URL/,
    );

    const anonymous = await call(
      app,
      "POST",
      "/twitter/start",
      undefined,
      body,
    );
    assert.equal(anonymous.status, 401);
    assert.equal((await call(app, "GET", "/twitter/start")).status, 405);
  },
);

scenario(
  "reconnecting refreshes the connection, keeps a refresh token the new grant lacks, drops it for another account",
  async ({ fakes, app, user }) => {
    await connect(app, user, "linkedin");
    const first = (await connectionOf(user, "linkedin"))!;
    const firstRefresh = await plaintext(
      user,
      "linkedin",
      "refresh_token",
      first.refresh_token!,
    );
    await asService((tx) =>
      tx`update public.social_connections
         set status = 'needs_reauth', is_active = false, last_error = 'revoked', refresh_failures = 3
         where id = ${first.id}`
    );

    fakes.linkedin.issueRefreshTokens = false;
    await connect(app, user, "linkedin");
    const again = (await connectionOf(user, "linkedin"))!;
    assert.equal(again.id, first.id, "one connection per user and platform");
    assert.notEqual(again.access_token, first.access_token);
    assert.equal(
      await plaintext(user, "linkedin", "refresh_token", again.refresh_token!),
      firstRefresh,
    );
    assert.deepEqual(
      [again.status, again.is_active, again.last_error, again.refresh_failures],
      ["active", true, null, 0],
    );

    fakes.linkedin.account = {
      id: "linkedin-user-2",
      username: "other",
      name: "Other Person",
    };
    await connect(app, user, "linkedin");
    const other = (await connectionOf(user, "linkedin"))!;
    assert.equal(other.platform_user_id, "linkedin-user-2");
    assert.equal(
      other.refresh_token,
      null,
      "another account's refresh token is not kept",
    );
  },
);

scenario(
  "Facebook: a user who manages no page yet still connects, with no accounts to post as",
  async ({ fakes, app, user }) => {
    fakes.setFacebookPages([]);
    assert.deepEqual(outcome(await connect(app, user, "facebook")), { connected: "facebook" });
    assert.deepEqual((await connectionOf(user, "facebook"))!.accounts, []);

    fakes.setFacebookPages([{ id: "p-1", name: "Shop" }, { id: "p-2", name: "Blog" }]);
    await connect(app, user, "facebook");
    assert.deepEqual((await connectionOf(user, "facebook"))!.accounts, [
      { id: "p-1", name: "Shop" },
      { id: "p-2", name: "Blog" },
    ]);
  },
);

scenario(
  "LinkedIn: a member without pages, or without the organisation scopes, connects as themselves",
  async ({ fakes, app, user }) => {
    fakes.setLinkedinOrganizations([{ id: 42, name: "Watched Co", role: "ANALYST" }]);
    assert.deepEqual(outcome(await connect(app, user, "linkedin")), { connected: "linkedin" });
    assert.deepEqual((await connectionOf(user, "linkedin"))!.accounts, []);

    // The member declines the organisation scopes: no pages are asked for.
    fakes.setLinkedinOrganizations([{ id: 7, name: "Beacon", role: "ADMINISTRATOR" }]);
    fakes.linkedin.grantScopes = ["openid", "profile", "w_member_social"];
    const asked = fakes.linkedin.hits.organizations;
    assert.deepEqual(outcome(await connect(app, user, "linkedin")), { connected: "linkedin" });
    const member = (await connectionOf(user, "linkedin"))!;
    assert.deepEqual([member.accounts, member.scopes], [[], fakes.linkedin.grantScopes]);
    assert.equal(fakes.linkedin.hits.organizations, asked);

    fakes.linkedin.grantScopes = undefined;
    await connect(app, user, "linkedin");
    assert.deepEqual((await connectionOf(user, "linkedin"))!.accounts, [
      { id: "urn:li:organization:7", name: "Beacon" },
    ]);
  },
);

scenario(
  "LinkedIn: BEACON_LINKEDIN_ORGANIZATIONS=false asks for the member's scopes only",
  async ({ fakes, user }) => {
    const app = appFor(fakes, { BEACON_LINKEDIN_ORGANIZATIONS: "false" });
    const url = await start(app, user, "linkedin");
    assert.equal(url.searchParams.get("scope"), "openid profile w_member_social");
    const landed = new URL((await callback(app, await authorize(url))).location!);
    assert.deepEqual(outcome(landed), { connected: "linkedin" });
    assert.deepEqual((await connectionOf(user, "linkedin"))!.accounts, []);
    assert.equal(fakes.linkedin.hits.organizations, undefined);
  },
);
