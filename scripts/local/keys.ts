// The local stack's JWT secret and API keys: the same defaults `supabase start` uses, so the
// well-known local anon and service_role keys work against either stack. Never use them in
// production.
//
//   deno run scripts/local/keys.ts              prints SUPABASE_JWT_SECRET=..., SUPABASE_ANON_KEY=...,
//                                               SUPABASE_SERVICE_ROLE_KEY=... (shell `eval`-able)
//   deno run scripts/local/keys.ts user ID EMAIL  prints an access token for that user, valid 24 h
import { type JWTPayload, SignJWT } from "jose";

/** The JWT secret of every `supabase start` stack unless its config.toml sets another. */
export const LOCAL_JWT_SECRET = "super-secret-jwt-token-with-at-least-32-characters-long";

/** When the well-known local keys expire (2032-11-11). */
const LOCAL_KEYS_EXPIRE = 1983812996;

/** A token signed HS256 with the local secret, e.g. for tests acting as a user. */
export function signLocalJwt(payload: JWTPayload): Promise<string> {
  return new SignJWT(payload)
    .setProtectedHeader({ alg: "HS256", typ: "JWT" })
    .sign(new TextEncoder().encode(LOCAL_JWT_SECRET));
}

/** The API key for `role`, byte for byte the one `supabase start` prints. */
export function localApiKey(role: "anon" | "service_role"): Promise<string> {
  return signLocalJwt({ iss: "supabase-demo", role, exp: LOCAL_KEYS_EXPIRE });
}

/** An access token like the one Supabase Auth issues to a signed-in user. */
export function userAccessToken(userId: string, email: string, ttlSeconds = 24 * 3600) {
  const now = Math.floor(Date.now() / 1000);
  return signLocalJwt({
    iss: "supabase-demo",
    sub: userId,
    aud: "authenticated",
    role: "authenticated",
    email,
    iat: now,
    exp: now + ttlSeconds,
  });
}

if (import.meta.main && Deno.args[0] === "user") {
  const [, userId, email] = Deno.args;
  if (!userId || !email) {
    console.error("usage: deno run scripts/local/keys.ts user USER_ID EMAIL");
    Deno.exit(2);
  }
  console.log(await userAccessToken(userId, email));
} else if (import.meta.main) {
  console.log(`SUPABASE_JWT_SECRET=${LOCAL_JWT_SECRET}`);
  console.log(`SUPABASE_ANON_KEY=${await localApiKey("anon")}`);
  console.log(`SUPABASE_SERVICE_ROLE_KEY=${await localApiKey("service_role")}`);
}
