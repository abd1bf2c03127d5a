// DELETE /oauth/{platform}: revocation at the provider where it exists, then forgetting.
import assert from "node:assert/strict";
import { createUser, dbTest, deleteUsers } from "../_testing/harness.ts";
import {
  appFor,
  call,
  connect,
  connectionOf,
  plaintext,
  scenarios,
  withFakes,
} from "../_testing/oauth.ts";

const scenario = scenarios("disconnect");

scenario(
  "disconnecting revokes at X, LinkedIn and Facebook, says Instagram cannot, and forgets",
  async ({ fakes, app, user }) => {
    const tokens: Record<string, { access: string; refresh?: string }> = {};
    for (
      const platform of [
        "twitter",
        "linkedin",
        "facebook",
        "instagram",
      ] as const
    ) {
      await connect(app, user, platform);
      const row = (await connectionOf(user, platform))!;
      tokens[platform] = {
        access: await plaintext(
          user,
          platform,
          "access_token",
          row.access_token,
        ),
        refresh: row.refresh_token
          ? await plaintext(
            user,
            platform,
            "refresh_token",
            row.refresh_token,
          )
          : undefined,
      };
    }

    for (const platform of ["twitter", "linkedin", "facebook"] as const) {
      const answer = await call(app, "DELETE", `/${platform}`, user);
      assert.equal(answer.status, 200, platform);
      assert.deepEqual(answer.body, {
        platform,
        disconnected: true,
        revoked: true,
      });
      assert.equal(
        await connectionOf(user, platform),
        undefined,
        `${platform}: forgotten`,
      );
      assert.equal(
        fakes[platform].accessGrant(tokens[platform].access),
        undefined,
      );
    }
    assert.deepEqual(fakes.twitter.revoked, [
      tokens.twitter.access,
      tokens.twitter.refresh,
    ]);
    assert.deepEqual(fakes.linkedin.revoked, [tokens.linkedin.access]);
    assert.deepEqual(fakes.facebook.revoked, [tokens.facebook.access]);

    const instagram = await call(app, "DELETE", "/instagram", user);
    assert.equal(instagram.status, 200);
    assert.equal(instagram.body.revoked, false);
    assert.match(
      instagram.body.reason as string,
      /no token revocation API/,
    );
    assert.equal(await connectionOf(user, "instagram"), undefined);

    const again = await call(app, "DELETE", "/twitter", user);
    assert.equal(again.status, 404);
    assert.equal(again.body.error, "not_connected");
  },
);

scenario(
  "a revocation the provider refuses still forgets the connection, and says so",
  async ({ fakes, app, user }) => {
    await connect(app, user, "twitter");
    fakes.twitter.failNext("revoke", "server_error");
    const answer = await call(app, "DELETE", "/twitter", user);
    assert.equal(answer.status, 200);
    assert.equal(answer.body.disconnected, true);
    assert.equal(answer.body.revoked, false);
    assert.match(answer.body.reason as string, /revocation failed \(503\)/);
    assert.equal(await connectionOf(user, "twitter"), undefined);

    await connect(app, user, "facebook");
    fakes.facebook.failNext("revoke", "rate_limited");
    const facebook = await call(app, "DELETE", "/facebook", user);
    assert.equal(facebook.body.revoked, false);
    assert.match(facebook.body.reason as string, /request limit reached/);
    assert.equal(await connectionOf(user, "facebook"), undefined);

    // A platform whose settings were removed: forgotten, not revoked, and told why.
    await connect(app, user, "linkedin");
    const bare = appFor(fakes, { BEACON_LINKEDIN_CLIENT_SECRET: "" });
    const unconfigured = await call(bare, "DELETE", "/linkedin", user);
    assert.equal(unconfigured.body.revoked, false);
    assert.match(
      unconfigured.body.reason as string,
      /BEACON_LINKEDIN_CLIENT_SECRET/,
    );
    assert.equal(await connectionOf(user, "linkedin"), undefined);
  },
);

dbTest(
  "a user disconnects only their own connection, and only when signed in",
  () =>
    withFakes(async (fakes) => {
      const app = appFor(fakes);
      const alice = await createUser("alice");
      const bob = await createUser("bob");
      try {
        await connect(app, alice, "twitter");
        assert.equal((await call(app, "DELETE", "/twitter", bob)).status, 404);
        assert.equal((await call(app, "DELETE", "/twitter")).status, 401);
        assert.equal(
          (await call(app, "DELETE", "/myspace", alice)).status,
          404,
        );
        assert.ok(
          await connectionOf(alice, "twitter"),
          "alice's connection is untouched",
        );
        assert.deepEqual(fakes.twitter.revoked, []);
      } finally {
        await deleteUsers(alice, bob);
      }
    }),
);
