import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { signConfirmToken, verifyConfirmToken } from "./confirm_tokens.ts";
import { importTrackingKey, signToken } from "./tokens.ts";

const key = importTrackingKey("a-test-secret-of-at-least-32-characters!");
const formId = "11111111-2222-4333-8444-555555555555";
const leadId = "66666666-7777-4888-9999-aaaaaaaaaaaa";
const expiresAt = new Date("2030-01-01T00:00:00Z");

Deno.test("a confirm token names its form and lead until it expires", () => {
  const token = signConfirmToken(key, { formId, leadId, expiresAt });
  assert.deepEqual(verifyConfirmToken(key, token, new Date("2029-12-31T23:59:59Z")), {
    formId,
    leadId,
    expiresAt,
  });
  assert.equal(verifyConfirmToken(key, token, expiresAt), "expired");
});

Deno.test("a changed, foreign or tracking token confirms nothing", () => {
  const token = signConfirmToken(key, { formId, leadId, expiresAt });
  const [payload, tag] = token.split(".");
  const bytes = Buffer.from(payload, "base64url");
  bytes[36] ^= 1; // a later expiry
  const now = new Date("2029-01-01T00:00:00Z");
  assert.equal(verifyConfirmToken(key, `${bytes.toString("base64url")}.${tag}`, now), null);
  const other = importTrackingKey("another-secret-of-at-least-32-characters");
  assert.equal(verifyConfirmToken(other, token, now), null);
  assert.equal(verifyConfirmToken(key, signToken(key, "unsubscribe", leadId), now), null);
  assert.equal(verifyConfirmToken(key, `${token}.x`, now), null);
});
