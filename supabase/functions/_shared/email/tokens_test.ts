import assert from "node:assert/strict";
import { importTrackingKey, signToken, verifyToken } from "./tokens.ts";

const key = importTrackingKey("a-tracking-secret-of-at-least-32-characters");
const other = importTrackingKey("another-tracking-secret-32-characters-long");
const id = "0b9c1e2f-3a4b-4c5d-8e6f-7a8b9c0d1e2f";

/** `token` with the character at `at` replaced by another base64url character. */
const flip = (token: string, at: number) =>
  token.slice(0, at) + (token[at] === "A" ? "B" : "A") + token.slice(at + 1);

Deno.test("a token verifies for its kind and gives back the delivery id", () => {
  for (const kind of ["open", "click", "unsubscribe"] as const) {
    const token = signToken(
      key,
      kind,
      id,
      kind === "click" ? "https://example.com/a" : "",
    );
    assert.match(token, /^[A-Za-z0-9_-]{24}\.[A-Za-z0-9_-]{22}$/);
    const url = kind === "click" ? "https://example.com/a" : "";
    assert.equal(verifyToken(key, kind, token, url), id);
  }
});

Deno.test("tokens are deterministic (a replayed render gives the same links)", () => {
  assert.equal(signToken(key, "open", id), signToken(key, "open", id));
  assert.equal(
    signToken(key, "open", id.toUpperCase()),
    signToken(key, "open", id),
  );
});

Deno.test("a tampered token is refused: payload, MAC, kind, secret, URL, spelling", () => {
  const token = signToken(key, "click", id, "https://example.com/a");
  const refused = (
    candidate: string,
    kind = "click" as const,
    url = "https://example.com/a",
  ) => assert.equal(verifyToken(key, kind, candidate, url), null, candidate);
  for (let at = 0; at < token.length; at++) {
    if (token[at] !== ".") refused(flip(token, at));
  }
  refused(token, "click", "https://evil.example/a");
  refused(token, "click", "https://example.com/a?x=1");
  assert.equal(
    verifyToken(key, "open", token),
    null,
    "a click token is not an open token",
  );
  assert.equal(
    verifyToken(other, "click", token, "https://example.com/a"),
    null,
  );
  for (
    const bad of [
      "",
      ".",
      "abc",
      `${token}.x`,
      token.replace(".", ""),
      `${token}=`,
      "é.é",
    ]
  ) {
    refused(bad);
  }
});

Deno.test("signing refuses something that is not a delivery id", () => {
  assert.throws(
    () => signToken(key, "open", "not-a-uuid"),
    /not a delivery id/,
  );
});
