import assert from "node:assert/strict";
import { describeError, parseScopes, providerError } from "./oauth.ts";
import { graphTransient } from "./meta.ts";

Deno.test("scopes parse from space- or comma-separated strings and lists, as a sorted set", () => {
  assert.deepEqual(parseScopes("tweet.read users.read tweet.read"), [
    "tweet.read",
    "users.read",
  ]);
  assert.deepEqual(parseScopes("openid,profile,w_member_social"), [
    "openid",
    "profile",
    "w_member_social",
  ]);
  assert.deepEqual(parseScopes(["b", "a"]), ["a", "b"]);
  assert.deepEqual(parseScopes(undefined), []);
});

Deno.test("each platform's error body yields its message", () => {
  assert.equal(
    describeError({
      error: "invalid_request",
      error_description: "Value passed was invalid.",
    }),
    "invalid_request: Value passed was invalid.",
  );
  assert.equal(
    describeError({
      error: { message: "Invalid OAuth access token", code: 190 },
    }),
    "Invalid OAuth access token",
  );
  assert.equal(
    describeError({
      error_type: "OAuthException",
      code: 400,
      error_message: "Invalid code",
    }),
    "Invalid code",
  );
  assert.equal(
    describeError({ title: "Unauthorized", detail: "Unauthorized" }),
    "Unauthorized",
  );
  assert.equal(
    describeError({ serviceErrorCode: 65600, message: "Invalid token" }),
    "Invalid token",
  );
  assert.equal(describeError("<html>"), undefined);
});

Deno.test("Graph throttling and temporary codes are transient; an invalid token is not", () => {
  assert.equal(graphTransient(403, { error: { code: 4 } }), true);
  assert.equal(graphTransient(400, { error: { code: 17 } }), true);
  assert.equal(
    graphTransient(400, { error: { code: 100, is_transient: true } }),
    true,
  );
  assert.equal(graphTransient(400, { error: { code: 190 } }), false);
});

Deno.test("network failures and timeouts are transient", async () => {
  assert.equal(
    (await providerError(new TypeError("connection refused"), "x")).transient,
    true,
  );
  const timeout = new DOMException("timed out", "TimeoutError");
  assert.equal((await providerError(timeout, "x")).transient, true);
});
