import assert from "node:assert/strict";
import { ConfigError } from "../env.ts";
import { readPlatformConfig } from "./config.ts";
import { createProviders } from "./registry.ts";

Deno.test("endpoints default to the platforms' real URLs", () => {
  const x = readPlatformConfig("twitter", {});
  assert.equal(x.endpoints.authorize, "https://x.com/i/oauth2/authorize");
  assert.equal(x.endpoints.token, "https://api.x.com/2/oauth2/token");
  assert.equal(x.endpoints.revoke, "https://api.x.com/2/oauth2/revoke");
  assert.equal(
    readPlatformConfig("linkedin", {}).endpoints.issuer,
    "https://www.linkedin.com/oauth",
  );
  assert.equal(
    readPlatformConfig("facebook", {}).endpoints.api,
    "https://graph.facebook.com/v21.0",
  );
  assert.equal(
    readPlatformConfig("instagram", {}).endpoints.token,
    "https://api.instagram.com/oauth/access_token",
  );
});

Deno.test("a platform without client id and secret has no adapter and names what is missing", () => {
  const slots = createProviders({ BEACON_LINKEDIN_CLIENT_ID: "abc" });
  assert.equal(slots.linkedin.provider, undefined);
  assert.deepEqual(slots.linkedin.config.missing, [
    "BEACON_LINKEDIN_CLIENT_SECRET",
  ]);
  assert.deepEqual(slots.twitter.config.missing, [
    "BEACON_TWITTER_CLIENT_ID",
    "BEACON_TWITTER_CLIENT_SECRET",
  ]);
  const configured = createProviders({
    BEACON_TWITTER_CLIENT_ID: "id",
    BEACON_TWITTER_CLIENT_SECRET: "secret",
  });
  assert.equal(configured.twitter.provider?.platform, "twitter");
  assert.deepEqual(configured.twitter.config.missing, []);
});

Deno.test("endpoints must be https; plain http only on loopback (the fakes)", () => {
  assert.equal(
    readPlatformConfig("twitter", {
      BEACON_TWITTER_TOKEN_URL: "http://127.0.0.1:9/token/",
    })
      .endpoints.token,
    "http://127.0.0.1:9/token",
  );
  for (
    const url of [
      "http://api.x.com/2/oauth2/token",
      "ftp://api.x.com/",
      "not a url",
    ]
  ) {
    assert.throws(
      () => readPlatformConfig("twitter", { BEACON_TWITTER_TOKEN_URL: url }),
      (err: unknown) =>
        err instanceof ConfigError &&
        /BEACON_TWITTER_TOKEN_URL/.test(err.message),
      url,
    );
  }
});
