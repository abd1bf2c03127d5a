import assert from "node:assert/strict";
import { jwtVerify } from "jose";
import { LOCAL_JWT_SECRET, localApiKey, userAccessToken } from "./keys.ts";

// The keys every `supabase start` prints with its default JWT secret.
const WELL_KNOWN_ANON =
  "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJpc3MiOiJzdXBhYmFzZS1kZW1vIiwicm9sZSI6ImFub24iLCJleHAiOjE5ODM4MTI5OTZ9.CRXP1A7WOeoJeXxjNni43kdQwgnWNReilDMblYTn_I0";
const WELL_KNOWN_SERVICE_ROLE =
  "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJpc3MiOiJzdXBhYmFzZS1kZW1vIiwicm9sZSI6InNlcnZpY2Vfcm9sZSIsImV4cCI6MTk4MzgxMjk5Nn0.EGIM96RAZx35lJzdJsyH-qQwv8Hdp7fsn3W0YpN81IU";

Deno.test("the anon key is the well-known local one", async () => {
  assert.equal(await localApiKey("anon"), WELL_KNOWN_ANON);
});

Deno.test("the service_role key is the well-known local one", async () => {
  assert.equal(await localApiKey("service_role"), WELL_KNOWN_SERVICE_ROLE);
});

Deno.test("the keys verify with the local secret and carry their role", async () => {
  const secret = new TextEncoder().encode(LOCAL_JWT_SECRET);
  for (const role of ["anon", "service_role"] as const) {
    const { payload, protectedHeader } = await jwtVerify(await localApiKey(role), secret);
    assert.equal(payload.role, role);
    assert.equal(payload.iss, "supabase-demo");
    assert.equal(protectedHeader.alg, "HS256");
  }
});

Deno.test("a user access token is an authenticated-role JWT for that user", async () => {
  const token = await userAccessToken("de000000-0000-4000-8000-000000000001", "demo@beacon.local");
  const { payload } = await jwtVerify(token, new TextEncoder().encode(LOCAL_JWT_SECRET), {
    audience: "authenticated",
  });
  assert.equal(payload.sub, "de000000-0000-4000-8000-000000000001");
  assert.equal(payload.role, "authenticated");
  assert.equal(payload.email, "demo@beacon.local");
  assert.ok(payload.exp! - payload.iat! === 24 * 3600);
});
