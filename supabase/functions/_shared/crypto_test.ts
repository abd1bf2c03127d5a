import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import {
  decrypt,
  DecryptError,
  encrypt,
  needsRotation,
  parseKeyRing,
  secretContext,
  tokenContext,
} from "./crypto.ts";

const randomKey = () => Buffer.from(crypto.getRandomValues(new Uint8Array(32))).toString("base64");
const K1 = randomKey();
const K2 = randomKey();
const alice = "6f1c1d4e-8a6b-4b57-9d1e-1f1e1a1b1c1d";
const bob = "0b2e7a9c-3d4f-4e5a-8b6c-7d8e9f0a1b2c";

Deno.test("encrypt/decrypt round trip, fresh nonce every time, no plaintext in the output", async () => {
  const ring = await parseKeyRing(`v1:${K1}`);
  const context = secretContext(alice, "RESEND_API_KEY");
  const plaintext = "re_live_0123456789abcdef";
  const first = await encrypt(ring, plaintext, context);
  const second = await encrypt(ring, plaintext, context);
  assert.notEqual(first, second);
  assert.ok(!first.includes(plaintext) && !first.includes(btoa(plaintext)));
  assert.match(first, /^v1\.[A-Za-z0-9_-]{16}\.[A-Za-z0-9_-]+$/);
  assert.equal(await decrypt(ring, first, context), plaintext);
  assert.equal(await decrypt(ring, second, context), plaintext);
});

Deno.test("a tampered ciphertext does not decrypt", async () => {
  const ring = await parseKeyRing(`v1:${K1}`);
  const context = secretContext(alice, "X");
  const stored = await encrypt(ring, "secret", context);
  const [version, nonce, sealed] = stored.split(".");
  const flipped = (sealed[0] === "A" ? "B" : "A") + sealed.slice(1);
  await assert.rejects(decrypt(ring, `${version}.${nonce}.${flipped}`, context), DecryptError);
  await assert.rejects(decrypt(ring, "plaintext", context), /not a Beacon ciphertext/);
});

Deno.test("a ciphertext moved to another user, name, platform or token kind does not decrypt", async () => {
  const ring = await parseKeyRing(`v1:${K1}`);
  const secret = await encrypt(ring, "s", secretContext(alice, "RESEND_API_KEY"));
  await assert.rejects(
    decrypt(ring, secret, secretContext(bob, "RESEND_API_KEY")),
    /another owner/,
  );
  await assert.rejects(decrypt(ring, secret, secretContext(alice, "OTHER_KEY")), DecryptError);
  const token = await encrypt(ring, "t", tokenContext(alice, "twitter", "access_token"));
  await assert.rejects(
    decrypt(ring, token, tokenContext(alice, "twitter", "refresh_token")),
    DecryptError,
  );
  await assert.rejects(
    decrypt(ring, token, tokenContext(alice, "linkedin", "access_token")),
    DecryptError,
  );
});

Deno.test("an unknown key version is named in the error", async () => {
  const stored = await encrypt(await parseKeyRing(`v7:${K1}`), "s", "ctx");
  await assert.rejects(
    decrypt(await parseKeyRing(`v1:${K1}`), stored, "ctx"),
    /encrypted with key v7, which is not in BEACON_ENCRYPTION_KEYS/,
  );
});

Deno.test("rotation: the newest key encrypts, older keys still decrypt until re-encrypted", async () => {
  const old = await parseKeyRing(`v1:${K1}`);
  const rotated = await parseKeyRing(`v2:${K2},v1:${K1}`);
  const stored = await encrypt(old, "s", "ctx");
  assert.ok(needsRotation(rotated, stored));
  assert.equal(await decrypt(rotated, stored, "ctx"), "s");
  const renewed = await encrypt(rotated, await decrypt(rotated, stored, "ctx"), "ctx");
  assert.ok(!needsRotation(rotated, renewed));
  assert.equal(await decrypt(await parseKeyRing(`v2:${K2}`), renewed, "ctx"), "s");
});

Deno.test("parseKeyRing rejects malformed rings without echoing key material", async () => {
  await assert.rejects(parseKeyRing(""), /empty/);
  await assert.rejects(parseKeyRing(K1), /key 1 must look like v<number>:<base64 key>/);
  await assert.rejects(parseKeyRing(`v1:${K1},v1:${K2}`), /v1 appears twice/);
  await assert.rejects(
    parseKeyRing("v1:c2hvcnQ="),
    (err: Error) => /v1 must be 32 bytes/.test(err.message) && !err.message.includes("c2hvcnQ"),
  );
  await assert.rejects(parseKeyRing("v1:not*base64"), /v1 must be 32 bytes/);
});
