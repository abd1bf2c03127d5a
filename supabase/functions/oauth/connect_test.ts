// POST /oauth/{platform}/start and GET /oauth/{platform}/callback against the fake platforms
// over real HTTP and the real local database.
import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { DecryptError } from "../_shared/crypto.ts";
import { asService, type UserClaims } from "../_shared/db.ts";
import { s256 } from "../_testing/fakes/state.ts";
import { PLATFORMS } from "../_shared/providers/config.ts";
import { createUser, deleteUsers } from "../_testing/harness.ts";
import {
  APP_ORIGIN,
  appFor,
  authorize,
  call,
  callback,
  CALLBACK_BASE,
  connect,
  connectionOf,
  plaintext,
  scenarios,
  start,
} from "../_testing/oauth.ts";

const RETURN_TO = `${APP_ORIGIN}/settings/connections`;

/** The query the browser ends up with at the app. */
const outcome = (url: URL) => Object.fromEntries(url.searchParams);

const statesOf = async (user: UserClaims) =>
  await asService((tx) =>
    tx`select encode(state_hash, 'hex') as hash, platform, code_verifier, redirect_to,
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
        "w_member_social",
      ]);
      assert.equal(rows.linkedin.username, "Tess Tester");
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
      "openid profile w_member_social",
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

scenario(
  "unknown, replayed, expired and cross-platform states",
  async ({ fakes, app, user }) => {
    // Unknown or absent: no trusted place to send the browser, so 400 JSON.
    for (
      const query of [
        "?code=abc&state=made-up",
        "?code=abc",
        "?error=access_denied",
      ]
    ) {
      const answer = await call(app, "GET", `/twitter/callback${query}`);
      assert.equal(answer.status, 400, query);
      assert.equal(answer.body.error, "invalid_state");
      assert.match(answer.body.message as string, /Start connecting again/);
    }

    // Replayed: the first use consumed it.
    const back = await authorize(await start(app, user, "twitter"));
    assert.equal((await callback(app, back)).status, 302);
    const replay = await callback(app, back);
    assert.equal(replay.status, 400);
    assert.equal(replay.body.error, "invalid_state");
    assert.equal(
      fakes.twitter.hits.token,
      1,
      "the replay never reached the token endpoint",
    );

    // Expired: ten minutes passed.
    const late = await authorize(await start(app, user, "linkedin"));
    await asService((tx) =>
      tx`update private.oauth_states
       set created_at = now() - interval '11 minutes', expires_at = now() - interval '1 minute'
       where user_id = ${user.sub}`
    );
    const expired = await callback(app, late);
    assert.deepEqual(outcome(new URL(expired.location!)), {
      error: "expired_state",
      platform: "linkedin",
    });
    assert.equal(fakes.linkedin.hits.token, undefined);

    // A state issued for X presented to LinkedIn's callback: refused, and burnt.
    const xBack = await authorize(await start(app, user, "twitter"));
    const crossed = new URL(xBack);
    crossed.pathname = crossed.pathname.replace("/twitter/", "/linkedin/");
    const cross = await callback(app, crossed);
    assert.deepEqual(outcome(new URL(cross.location!)), {
      error: "invalid_state",
      platform: "linkedin",
    });
    assert.equal(
      (await callback(app, xBack)).status,
      400,
      "the crossed state is used up",
    );
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
