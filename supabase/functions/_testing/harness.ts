// Helpers for Deno tests that use the real local database (scripts/db start).
import { SignJWT } from "jose";
import { asService, type UserClaims } from "../_shared/db.ts";

/**
 * A test that talks to Postgres. The pool is shared by every test file in the run and stays
 * open between tests, so Deno's per-test resource and op sanitizers would flag its sockets.
 */
export function dbTest(name: string, fn: () => Promise<void>) {
  Deno.test({ name, fn, sanitizeResources: false, sanitizeOps: false });
}

/** A fresh auth user (as GoTrue would create it) and the claims of a token for them. */
export async function createUser(label: string): Promise<UserClaims> {
  const id = crypto.randomUUID();
  const email = `${label}-${id.slice(0, 8)}@example.test`;
  await asService((tx) => tx`insert into auth.users (id, email) values (${id}, ${email})`);
  return { sub: id, role: "authenticated", aud: "authenticated", email };
}

/** Deletes users; every row they own goes with them (on delete cascade). */
export async function deleteUsers(...users: UserClaims[]) {
  const ids = users.map((user) => user.sub);
  await asService((tx) => tx`delete from auth.users where id = any(${ids}::uuid[])`);
}

function sign(claims: Record<string, unknown>) {
  const secret = Deno.env.get("SUPABASE_JWT_SECRET");
  if (!secret) throw new Error("SUPABASE_JWT_SECRET is not set (see scripts/local/functions.env)");
  return new SignJWT(claims).setProtectedHeader({ alg: "HS256" }).setExpirationTime("10m")
    .sign(new TextEncoder().encode(secret));
}

/** `Authorization` header value for a user, as GoTrue would sign it. */
export const bearerFor = async (user: UserClaims) => `Bearer ${await sign(user)}`;

/** `Authorization` header value for the service role. */
export const serviceBearer = async () => `Bearer ${await sign({ role: "service_role" })}`;

/**
 * Waits until `ready()` holds, asking every `everyMs` (50) for `withinMs` (10 s) at most; fails
 * naming `what` otherwise.
 */
export async function until(
  what: string,
  ready: () => boolean | Promise<boolean>,
  { withinMs = 10_000, everyMs = 50 }: { withinMs?: number; everyMs?: number } = {},
) {
  const deadline = Date.now() + withinMs;
  while (!(await ready())) {
    if (Date.now() > deadline) throw new Error(`not within ${withinMs / 1000} s: ${what}`);
    await new Promise((resolve) => setTimeout(resolve, everyMs));
  }
}
