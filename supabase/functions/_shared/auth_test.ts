import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { exportJWK, generateKeyPair, SignJWT } from "jose";
import { createVerifier } from "./auth.ts";
import { ConfigError } from "./env.ts";
import { HttpError } from "./http.ts";

const SECRET = "test-secret-that-is-at-least-32-characters";
const USER_ID = "3f0c3c36-5a0e-4c5e-9a43-2d1f0e5b7a11";
const hs = createVerifier({ jwtSecret: SECRET, serviceKeys: ["sb_secret_test"] });

function sign(claims: Record<string, unknown>, secret = SECRET, header = { alg: "HS256" }) {
  return new SignJWT(claims).setProtectedHeader(header).sign(new TextEncoder().encode(secret));
}

const userClaims = (extra: Record<string, unknown> = {}) => ({
  sub: USER_ID,
  role: "authenticated",
  aud: "authenticated",
  exp: Math.floor(Date.now() / 1000) + 600,
  ...extra,
});

async function refused(promise: Promise<unknown>, message: RegExp) {
  await assert.rejects(promise, (err: unknown) => {
    assert.ok(err instanceof HttpError, `expected HttpError, got ${err}`);
    assert.equal(err.status, 401);
    assert.match(err.message, message);
    return true;
  });
}

Deno.test("a valid HS256 user token yields its claims", async () => {
  const claims = await hs.user(`Bearer ${await sign(userClaims())}`);
  assert.equal(claims.sub, USER_ID);
});

Deno.test("a missing or malformed Authorization header is refused", async () => {
  await refused(hs.user(undefined), /Authorization: Bearer/);
  await refused(hs.user("Basic abc"), /Authorization: Bearer/);
  await refused(hs.user("Bearer not-a-jwt"), /not a JWT/);
});

Deno.test("expired and not-yet-valid tokens are refused", async () => {
  const past = Math.floor(Date.now() / 1000) - 60;
  await refused(hs.user(`Bearer ${await sign(userClaims({ exp: past }))}`), /expired/);
  const future = Math.floor(Date.now() / 1000) + 3600;
  await refused(hs.user(`Bearer ${await sign(userClaims({ nbf: future }))}`), /claim nbf/);
});

Deno.test("a token without an expiry is refused, for users and for the service", async () => {
  const { exp: _, ...forever } = userClaims();
  await refused(hs.user(`Bearer ${await sign(forever)}`), /no expiry \(exp claim\)/);
  await refused(hs.service(`Bearer ${await sign({ role: "service_role" })}`), /no expiry/);
  const { privateKey, publicKey } = await generateKeyPair("ES256");
  const jwk = { ...(await exportJWK(publicKey)), kid: "k1", alg: "ES256" };
  const es = createVerifier({ jwks: { keys: [jwk] } });
  const unending = await new SignJWT(forever).setProtectedHeader({ alg: "ES256", kid: "k1" })
    .sign(privateKey);
  await refused(es.user(`Bearer ${unending}`), /no expiry/);
});

Deno.test("a token signed with another secret is refused", async () => {
  const forged = await sign(userClaims(), "another-secret-that-is-at-least-32-chars");
  await refused(hs.user(`Bearer ${forged}`), /signature does not match/);
});

Deno.test("alg none is refused", async () => {
  const b64 = (v: unknown) => Buffer.from(JSON.stringify(v)).toString("base64url");
  const unsigned = `${b64({ alg: "none", typ: "JWT" })}.${b64(userClaims())}.`;
  await refused(hs.user(`Bearer ${unsigned}`), /signed with none are not accepted/);
});

Deno.test("a token for another audience, or that is not a user's, is refused", async () => {
  await refused(hs.user(`Bearer ${await sign(userClaims({ aud: "other" }))}`), /claim aud/);
  const anon = await sign({ role: "anon", aud: "authenticated", exp: userClaims().exp });
  await refused(hs.user(`Bearer ${anon}`), /not a signed-in user's token/);
});

Deno.test("service routes accept the service role's token or a secret key only", async () => {
  await hs.service(`Bearer ${await sign({ role: "service_role", exp: userClaims().exp })}`);
  await hs.service("Bearer sb_secret_test");
  await refused(hs.service(`Bearer ${await sign(userClaims())}`), /service role only/);
  await refused(hs.service("Bearer sb_secret_wrong"), /not a JWT/);
});

Deno.test("ES256 tokens verify against the JWKS, and HS256 is refused when no secret is set", async () => {
  const { publicKey, privateKey } = await generateKeyPair("ES256");
  const jwk = { ...(await exportJWK(publicKey)), kid: "k1", alg: "ES256" };
  const es = createVerifier({ jwks: { keys: [jwk] } });
  const token = await new SignJWT(userClaims()).setProtectedHeader({ alg: "ES256", kid: "k1" })
    .sign(privateKey);
  assert.equal((await es.user(`Bearer ${token}`)).sub, USER_ID);
  const other = await generateKeyPair("ES256");
  const forged = await new SignJWT(userClaims()).setProtectedHeader({ alg: "ES256", kid: "k1" })
    .sign(other.privateKey);
  await refused(es.user(`Bearer ${forged}`), /signature does not match/);
  await refused(es.user(`Bearer ${await sign(userClaims())}`), /HS256 are not accepted/);
});

Deno.test("a verifier with no key configured fails at start", () => {
  assert.throws(() => createVerifier({}), ConfigError);
});
