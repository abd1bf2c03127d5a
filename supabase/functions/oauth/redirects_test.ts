import assert from "node:assert/strict";
import { ConfigError } from "../_shared/env.ts";
import { allowedRedirect, parseAllowlist, withParams } from "../_shared/redirects.ts";
import { readOAuthSettings } from "./settings.ts";

const rules = parseAllowlist(
  "https://app.example.com, https://example.com/beacon/, http://localhost:3000",
);

Deno.test("redirect targets under an allowed origin or prefix pass, normalised", () => {
  const allowed = {
    "https://app.example.com": "https://app.example.com/",
    "https://app.example.com/settings?tab=social#top":
      "https://app.example.com/settings?tab=social#top",
    "https://APP.Example.com/x": "https://app.example.com/x",
    "https://app.example.com:443/x": "https://app.example.com/x",
    "https://example.com/beacon/": "https://example.com/beacon/",
    "https://example.com/beacon/connect/done": "https://example.com/beacon/connect/done",
    "http://localhost:3000/anything": "http://localhost:3000/anything",
  };
  for (const [candidate, normalised] of Object.entries(allowed)) {
    assert.equal(
      allowedRedirect(rules, candidate)?.href,
      normalised,
      candidate,
    );
  }
});

Deno.test("open-redirect attempts are refused", () => {
  const attacks = [
    "https://evil.com",
    "https://app.example.com.evil.com/",
    "https://app.example.com@evil.com/",
    "https://user:pass@app.example.com/",
    "https://app.example.com\\@evil.com/",
    "https://app.example.com\\evil.com",
    "https://evil.com/?next=https://app.example.com",
    "https://evil.com/#https://app.example.com",
    "//evil.com",
    "/settings",
    "javascript:alert(1)//https://app.example.com",
    "data:text/html,<script>alert(1)</script>",
    "http://app.example.com/",
    "https://app.example.com:8443/",
    "https://sub.app.example.com/",
    "https://example.com/",
    "https://example.com/beaconx",
    "https://example.com/beacon/../admin",
    "https://example.com/beacon/%2e%2e/admin",
    " https://app.example.com/",
    "https://app.example.com/\tx",
    "https://app.example.com/\nx",
    "https://app.example.com/" + "a".repeat(2100),
    "",
  ];
  for (const candidate of attacks) {
    assert.equal(
      allowedRedirect(rules, candidate),
      undefined,
      JSON.stringify(candidate),
    );
  }
});

Deno.test("the allow-list refuses entries that cannot be matched safely", () => {
  for (
    const spec of [
      "",
      " , ",
      "app.example.com",
      "ftp://app.example.com",
      "http://app.example.com",
      "https://app.example.com/?x=1",
      "https://app.example.com/#x",
      "https://user@app.example.com",
    ]
  ) {
    assert.throws(() => parseAllowlist(spec), Error, JSON.stringify(spec));
  }
});

Deno.test("a malformed allow-list stops the function at start, naming the setting", () => {
  assert.throws(
    () => readOAuthSettings({ BEACON_OAUTH_REDIRECT_ALLOWLIST: "app.example.com" }),
    (err: unknown) =>
      err instanceof ConfigError &&
      /BEACON_OAUTH_REDIRECT_ALLOWLIST/.test(err.message),
  );
});

Deno.test("withParams adds to the query and keeps the rest", () => {
  assert.equal(
    withParams("https://app.example.com/s?tab=social#top", {
      connected: "twitter",
    }),
    "https://app.example.com/s?tab=social&connected=twitter#top",
  );
  assert.equal(
    withParams("https://app.example.com/s?error=old", {
      error: "access_denied",
    }),
    "https://app.example.com/s?error=access_denied",
  );
});

Deno.test("the callback URL derives from SUPABASE_URL unless set outright", () => {
  assert.equal(
    readOAuthSettings({ SUPABASE_URL: "https://abc.supabase.co/" }).callbackBase,
    "https://abc.supabase.co/functions/v1/oauth",
  );
  assert.equal(
    readOAuthSettings({
      SUPABASE_URL: "https://abc.supabase.co",
      BEACON_OAUTH_CALLBACK_BASE_URL: "https://api.example.com/functions/v1/oauth/",
    }).callbackBase,
    "https://api.example.com/functions/v1/oauth",
  );
  assert.equal(readOAuthSettings({}).callbackBase, undefined);
});
