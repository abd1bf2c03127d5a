// POST /oauth/refresh: each platform's real grant against the fakes, transient and
// permanent failures, and two runs at once.
import assert from "node:assert/strict";
import { asService, asUser, type UserClaims } from "../_shared/db.ts";
import { createUser, dbTest, deleteUsers, serviceBearer } from "../_testing/harness.ts";
import {
  appFor,
  call,
  connect,
  connectionOf,
  makeDue,
  plaintext,
  scenarios,
  type TestApp,
  withFakes,
} from "../_testing/oauth.ts";

/** One refresh run limited to these users (other tests' rows are not ours to touch). */
async function refresh(app: TestApp, ...users: UserClaims[]) {
  const answer = await call(app, "POST", "/refresh", "service", {
    user_ids: users.map((u) => u.sub),
  });
  assert.equal(answer.status, 200, JSON.stringify(answer.body));
  return answer.body;
}

const scenario = scenarios("refresh");

const secondsFromNow = (date: Date | null) => ((date?.getTime() ?? NaN) - Date.now()) / 1000;

scenario(
  "X: the refresh grant renews the tokens and the rotated refresh token replaces the old",
  async ({ fakes, app, user }) => {
    await connect(app, user, "twitter");
    const before = (await connectionOf(user, "twitter"))!;
    const oldRefresh = await plaintext(
      user,
      "twitter",
      "refresh_token",
      before.refresh_token!,
    );

    assert.deepEqual(await refresh(app, user), {
      refreshed: 0,
      failed: 0,
      deactivated: 0,
      superseded: 0,
    });
    assert.equal(
      fakes.twitter.hits.refresh,
      undefined,
      "not due yet: halfway through its life",
    );

    await makeDue(user);
    assert.deepEqual(await refresh(app, user), {
      refreshed: 1,
      failed: 0,
      deactivated: 0,
      superseded: 0,
    });
    const after = (await connectionOf(user, "twitter"))!;
    const access = await plaintext(
      user,
      "twitter",
      "access_token",
      after.access_token,
    );
    const newRefresh = await plaintext(
      user,
      "twitter",
      "refresh_token",
      after.refresh_token!,
    );
    assert.ok(
      fakes.twitter.accessGrant(access),
      "the new access token is live",
    );
    assert.ok(
      fakes.twitter.refreshTokens.has(newRefresh),
      "the rotated refresh token is stored",
    );
    assert.equal(fakes.twitter.refreshTokens.has(oldRefresh), false);
    assert.ok(after.last_refreshed_at! > before.last_refreshed_at!);
    assert.ok(Math.abs(secondsFromNow(after.expires_at) - 7200) < 30);
    assert.ok(
      Math.abs(secondsFromNow(after.next_refresh_at) - 3600) < 30,
      "next: halfway",
    );
    assert.deepEqual([after.status, after.is_active, after.refresh_failures], [
      "active",
      true,
      0,
    ]);

    assert.deepEqual(await refresh(app, user), {
      refreshed: 0,
      failed: 0,
      deactivated: 0,
      superseded: 0,
    });
    assert.equal(fakes.twitter.hits.refresh, 1);
  },
);

scenario(
  "LinkedIn's refresh grant (no token_type in its answer) and Instagram's ig_refresh_token",
  async ({ fakes, app, user }) => {
    await connect(app, user, "linkedin");
    await connect(app, user, "instagram");
    const before = {
      linkedin: (await connectionOf(user, "linkedin"))!,
      instagram: (await connectionOf(user, "instagram"))!,
    };
    await makeDue(user, "2 hours");
    assert.deepEqual(await refresh(app, user), {
      refreshed: 2,
      failed: 0,
      deactivated: 0,
      superseded: 0,
    });
    for (const platform of ["linkedin", "instagram"] as const) {
      const after = (await connectionOf(user, platform))!;
      assert.notEqual(
        after.access_token,
        before[platform].access_token,
        platform,
      );
      const access = await plaintext(
        user,
        platform,
        "access_token",
        after.access_token,
      );
      assert.ok(
        fakes[platform].accessGrant(access),
        `${platform}: the new token is live`,
      );
      assert.ok(
        secondsFromNow(after.expires_at) > 59 * 86400,
        `${platform}: 60 days again`,
      );
      assert.equal(fakes[platform].hits.refresh, 1);
    }
  },
);

scenario(
  "an answer without a refresh token keeps the stored one",
  async ({ fakes, app, user }) => {
    await connect(app, user, "linkedin");
    const before = (await connectionOf(user, "linkedin"))!;
    const stored = await plaintext(
      user,
      "linkedin",
      "refresh_token",
      before.refresh_token!,
    );
    fakes.linkedin.refreshOmitsRefreshToken = true;
    await makeDue(user);
    assert.deepEqual(await refresh(app, user), {
      refreshed: 1,
      failed: 0,
      deactivated: 0,
      superseded: 0,
    });
    const after = (await connectionOf(user, "linkedin"))!;
    assert.notEqual(after.access_token, before.access_token);
    assert.equal(
      after.refresh_token,
      before.refresh_token,
      "the refresh token is untouched",
    );
    assert.equal(
      await plaintext(user, "linkedin", "refresh_token", after.refresh_token!),
      stored,
    );
  },
);

scenario(
  "transient failures (5xx, 429, network) retry later and never switch the connection off",
  async ({ fakes, app, user }) => {
    await connect(app, user, "twitter");
    const before = (await connectionOf(user, "twitter"))!;

    fakes.twitter.failNext("refresh", "server_error");
    await makeDue(user);
    assert.deepEqual(await refresh(app, user), {
      refreshed: 0,
      failed: 1,
      deactivated: 0,
      superseded: 0,
    });
    let row = (await connectionOf(user, "twitter"))!;
    assert.deepEqual([row.status, row.is_active, row.refresh_failures], [
      "active",
      true,
      1,
    ]);
    assert.match(row.last_error!, /503/);
    assert.equal(row.access_token, before.access_token);
    assert.equal(row.refresh_token, before.refresh_token);
    assert.ok(
      secondsFromNow(row.next_refresh_at) > 240,
      "retried in a few minutes, not now",
    );
    assert.deepEqual(await refresh(app, user), {
      refreshed: 0,
      failed: 0,
      deactivated: 0,
      superseded: 0,
    });

    // 429: X says when its window resets (x-rate-limit-reset, 15 minutes ahead).
    fakes.twitter.failNext("refresh", "rate_limited");
    await makeDue(user);
    assert.deepEqual(await refresh(app, user), {
      refreshed: 0,
      failed: 1,
      deactivated: 0,
      superseded: 0,
    });
    row = (await connectionOf(user, "twitter"))!;
    assert.equal(row.refresh_failures, 2);
    assert.match(row.last_error!, /429/);
    assert.ok(
      secondsFromNow(row.next_refresh_at) > 850,
      "not before the rate limit resets",
    );

    // The network: nothing listens on the token endpoint.
    const unreachable = appFor(fakes, {
      BEACON_TWITTER_TOKEN_URL: "http://127.0.0.1:9/2/oauth2/token",
    });
    await makeDue(user);
    assert.deepEqual(await refresh(unreachable, user), {
      refreshed: 0,
      failed: 1,
      deactivated: 0,
      superseded: 0,
    });
    row = (await connectionOf(user, "twitter"))!;
    assert.equal(row.is_active, true);
    assert.match(row.last_error!, /could not reach/);

    // Back to normal: the failures are forgotten.
    await makeDue(user);
    assert.deepEqual(await refresh(app, user), {
      refreshed: 1,
      failed: 0,
      deactivated: 0,
      superseded: 0,
    });
    row = (await connectionOf(user, "twitter"))!;
    assert.deepEqual([row.status, row.last_error, row.refresh_failures], [
      "active",
      null,
      0,
    ]);
  },
);

scenario(
  "a refused grant switches the connection off: needs_reauth, with the reason",
  async ({ fakes, app, user }) => {
    for (const platform of ["twitter", "linkedin", "instagram"] as const) {
      await connect(app, user, platform);
    }
    // X: the user revoked the app, so the refresh token is dead (X says invalid_request).
    fakes.twitter.refreshTokens.clear();
    fakes.linkedin.failNext("refresh", "invalid_grant");
    fakes.instagram.failNext("refresh", "invalid_grant");
    await makeDue(user);
    assert.deepEqual(await refresh(app, user), {
      refreshed: 0,
      failed: 0,
      deactivated: 3,
      superseded: 0,
    });
    const reasons = {
      twitter: /\(400\): invalid_request: Value passed for the token was invalid/,
      linkedin: /\(400\): invalid_grant/,
      instagram: /\(400\): Error validating access token/,
    };
    for (const [platform, reason] of Object.entries(reasons)) {
      const row = (await connectionOf(user, platform as "twitter"))!;
      assert.deepEqual([row.status, row.is_active, row.refresh_failures], [
        "needs_reauth",
        false,
        1,
      ]);
      assert.match(row.last_error!, reason, platform);
      assert.equal(row.next_refresh_at, null);
    }
    assert.deepEqual(await refresh(app, user), {
      refreshed: 0,
      failed: 0,
      deactivated: 0,
      superseded: 0,
    });

    // The app reads why; it cannot switch the connection back on without connecting again.
    const seen = await asUser(
      user,
      (tx) =>
        tx`select platform, status, is_active, last_error from public.social_connections
         order by platform`,
    );
    assert.deepEqual(seen.map((r) => [r.platform, r.status, r.is_active]), [
      ["instagram", "needs_reauth", false],
      ["linkedin", "needs_reauth", false],
      ["twitter", "needs_reauth", false],
    ]);
    await assert.rejects(
      asUser(
        user,
        (tx) =>
          tx`update public.social_connections set is_active = true where platform = 'twitter'`,
      ),
      (err: { code?: string; message?: string }) =>
        err.code === "23514" &&
        /needs re-authorisation/.test(err.message ?? ""),
    );
  },
);

scenario(
  "no refresh grant (Facebook; LinkedIn without refresh tokens): needs re-authorisation, off once expired",
  async ({ fakes, app, user }) => {
    fakes.linkedin.issueRefreshTokens = false;
    await connect(app, user, "facebook");
    await connect(app, user, "linkedin");
    await makeDue(user, "20 hours");
    assert.deepEqual(await refresh(app, user), {
      refreshed: 0,
      failed: 2,
      deactivated: 0,
      superseded: 0,
    });
    for (const platform of ["facebook", "linkedin"] as const) {
      const row = (await connectionOf(user, platform))!;
      assert.deepEqual(
        [row.status, row.is_active],
        ["needs_reauth", true],
        "usable until it expires",
      );
      assert.match(
        row.last_error!,
        /connect .*again|programmatic refresh/i,
        platform,
      );
      assert.equal(row.next_refresh_at?.getTime(), row.expires_at?.getTime());
    }
    assert.match(
      (await connectionOf(user, "facebook"))!.last_error!,
      /cannot be refreshed/,
    );
    assert.deepEqual(await refresh(app, user), {
      refreshed: 0,
      failed: 0,
      deactivated: 0,
      superseded: 0,
    });
    assert.equal(fakes.facebook.hits.refresh, undefined);

    await asService((tx) =>
      tx`update public.social_connections
         set expires_at = now() - interval '1 second', next_refresh_at = now() - interval '1 second'
         where user_id = ${user.sub}`
    );
    assert.deepEqual(await refresh(app, user), {
      refreshed: 0,
      failed: 0,
      deactivated: 2,
      superseded: 0,
    });
    const row = (await connectionOf(user, "facebook"))!;
    assert.deepEqual([row.status, row.is_active], ["needs_reauth", false]);
    assert.match(row.last_error!, /expired/);
  },
);

dbTest(
  "two refresh runs at once never refresh the same connection twice",
  () =>
    withFakes(async (fakes) => {
      const app = appFor(fakes);
      const users = await Promise.all(
        Array.from({ length: 6 }, () => createUser("concurrent")),
      );
      try {
        for (const user of users) {
          await connect(app, user, "twitter");
          await makeDue(user);
        }
        fakes.twitter.latencyMs = 150;
        const runs = await Promise.all([
          refresh(app, ...users),
          refresh(app, ...users),
        ]);
        const refreshed = runs.reduce(
          (sum, run) => sum + (run.refreshed as number),
          0,
        );
        assert.equal(refreshed, 6, JSON.stringify(runs));
        assert.equal(
          runs.every((run) => run.failed === 0 && run.deactivated === 0 && run.superseded === 0),
          true,
        );
        assert.equal(
          fakes.twitter.hits.refresh,
          6,
          "one refresh grant per connection",
        );
        for (const user of users) {
          const row = (await connectionOf(user, "twitter"))!;
          const refreshToken = await plaintext(
            user,
            "twitter",
            "refresh_token",
            row.refresh_token!,
          );
          assert.ok(
            fakes.twitter.refreshTokens.has(refreshToken),
            "the stored refresh token is live",
          );
        }
      } finally {
        await deleteUsers(...users);
      }
    }),
);

scenario(
  "a refresh that finishes after the user reconnected leaves the newer tokens in place",
  async ({ fakes, app, user }) => {
    /** Runs a refresh that X answers only after the user has connected again. */
    const reconnectDuring = async () => {
      const { promise: held, resolve: release } = Promise.withResolvers<void>();
      fakes.twitter.holds.set("refresh", held);
      const running = refresh(app, user);
      while (!fakes.twitter.hits.refresh) await new Promise((r) => setTimeout(r, 10));
      fakes.twitter.holds.delete("refresh");
      try {
        await connect(app, user, "twitter");
      } finally {
        release();
      }
      const newer = (await connectionOf(user, "twitter"))!;
      assert.deepEqual(await running, {
        refreshed: 0,
        failed: 0,
        deactivated: 0,
        superseded: 1,
      });
      fakes.twitter.hits.refresh = 0;
      return newer;
    };

    // A refresh that succeeds at X while the user connects again.
    await connect(app, user, "twitter");
    await makeDue(user);
    let newer = await reconnectDuring();
    let row = (await connectionOf(user, "twitter"))!;
    assert.equal(row.access_token, newer.access_token, "the reconnect's access token stays");
    assert.equal(row.refresh_token, newer.refresh_token, "the reconnect's refresh token stays");
    assert.equal(row.expires_at?.getTime(), newer.expires_at?.getTime());
    assert.ok(
      fakes.twitter.accessGrant(await plaintext(user, "twitter", "access_token", row.access_token)),
    );

    // A refresh that X refuses while the user connects again: the new grant is not switched off.
    await makeDue(user);
    const stale = await plaintext(user, "twitter", "refresh_token", row.refresh_token!);
    fakes.twitter.poisoned.set(stale, "invalid_grant");
    newer = await reconnectDuring();
    row = (await connectionOf(user, "twitter"))!;
    assert.deepEqual([row.status, row.is_active, row.last_error, row.refresh_failures], [
      "active",
      true,
      null,
      0,
    ]);
    assert.equal(row.access_token, newer.access_token);
  },
);

dbTest(
  "one owner's broken connection never stops another's refresh: each fails alone, with its reason",
  () =>
    withFakes(async (fakes) => {
      const app = appFor(fakes);
      const alice = await createUser("poisoned");
      const bob = await createUser("ordinary");
      const poisonToken = async (row: { refresh_token: string | null }) =>
        await plaintext(alice, "twitter", "refresh_token", row.refresh_token!);
      try {
        const poisons: {
          name: string;
          poison: (row: { refresh_token: string | null }) => Promise<void>;
          expect: [string, boolean, RegExp];
          counts: Record<string, number>;
        }[] = [
          {
            name: "a ciphertext that does not decrypt",
            poison: async () => {
              const bobs = (await connectionOf(bob, "twitter"))!;
              await asService((tx) =>
                tx`update public.social_connections set access_token = ${bobs.access_token}
                   where user_id = ${alice.sub}`
              );
            },
            expect: ["active", true, /does not decrypt/],
            counts: { refreshed: 1, failed: 1, deactivated: 0, superseded: 0 },
          },
          {
            name: "X answering 503",
            poison: async (row) => {
              fakes.twitter.poisoned.set(await poisonToken(row), "server_error");
            },
            expect: ["active", true, /^twitter: .*503/],
            counts: { refreshed: 1, failed: 1, deactivated: 0, superseded: 0 },
          },
          {
            name: "X answering with a body that is not JSON",
            poison: async (row) => {
              fakes.twitter.poisoned.set(await poisonToken(row), "malformed");
            },
            // Not an answer X gives: the grant's fate is unknown, so the user connects again.
            expect: ["needs_reauth", false, /^twitter: the refresh grant failed \(200\)/],
            counts: { refreshed: 1, failed: 0, deactivated: 1, superseded: 0 },
          },
          {
            name: "an answer the database refuses to store (101 scopes)",
            poison: async (row) => {
              fakes.twitter.refreshTokens.get(await poisonToken(row))!.scopes = Array.from(
                { length: 101 },
                (_, i) => `scope.${i}`,
              );
            },
            expect: ["needs_reauth", false, /refreshed tokens could not be stored .*connect again/],
            counts: { refreshed: 1, failed: 0, deactivated: 1, superseded: 0 },
          },
        ];
        for (const { name, poison, expect, counts } of poisons) {
          await connect(app, alice, "twitter");
          await connect(app, bob, "twitter");
          await makeDue(alice);
          await makeDue(bob);
          const bobBefore = (await connectionOf(bob, "twitter"))!;
          await poison((await connectionOf(alice, "twitter"))!);

          assert.deepEqual(await refresh(app, alice, bob), counts, name);

          const bobAfter = (await connectionOf(bob, "twitter"))!;
          assert.notEqual(bobAfter.access_token, bobBefore.access_token, `${name}: bob refreshed`);
          assert.deepEqual([bobAfter.status, bobAfter.last_error], ["active", null], name);
          assert.ok(
            fakes.twitter.accessGrant(
              await plaintext(bob, "twitter", "access_token", bobAfter.access_token),
            ),
            `${name}: bob's new token is live`,
          );
          const aliceAfter = (await connectionOf(alice, "twitter"))!;
          assert.deepEqual(
            [aliceAfter.status, aliceAfter.is_active],
            [expect[0], expect[1]],
            name,
          );
          assert.match(aliceAfter.last_error ?? "", expect[2], `${name}: ${aliceAfter.last_error}`);
          assert.equal(aliceAfter.refresh_failures, 1, name);
          fakes.twitter.poisoned.clear();
        }
      } finally {
        await deleteUsers(alice, bob);
      }
    }),
);

scenario(
  "the refresh route is for the service role only",
  async ({ app, user }) => {
    assert.equal((await call(app, "POST", "/refresh", user, {})).status, 401);
    assert.equal((await call(app, "POST", "/refresh")).status, 401);
    const invalid = await call(app, "POST", "/refresh", "service", {
      user_ids: ["nope"],
    });
    assert.equal(invalid.status, 400);
    assert.match(invalid.body.message as string, /body\.user_ids\.0/);
    const broken = await app.request("http://functions.local/oauth/refresh", {
      method: "POST",
      headers: { authorization: await serviceBearer() },
      body: "{nope",
    });
    assert.equal(broken.status, 400);
    assert.equal((await broken.json()).error, "invalid_json");
    const bodyless = await app.request("http://functions.local/oauth/refresh", {
      method: "POST",
      headers: { authorization: await serviceBearer() },
    });
    assert.equal(
      bodyless.status,
      200,
      "the local loop may post without a body",
    );
    await bodyless.body?.cancel();
  },
);
