// The functions' one door to Postgres: a postgres.js pool from SUPABASE_DB_URL, and two ways
// to use it. `asUser` runs as the calling user exactly as PostgREST would (role
// authenticated, the verified claims in request.jwt.claims), so RLS and column grants apply
// to functions too. `asService` runs as the connection's own role (postgres on Supabase),
// for system work on private tables; use it only after the caller has been authorised.
import postgres from "postgres";
import { z } from "zod";
import { readEnv } from "./env.ts";

const settings = readEnv({
  SUPABASE_DB_URL: z.string().regex(/^postgres(ql)?:\/\//, "must be a postgres:// URL"),
  BEACON_DB_POOL_SIZE: z.coerce.number().int().min(1).max(50).default(4),
});

export const sql = postgres(settings.SUPABASE_DB_URL, {
  max: settings.BEACON_DB_POOL_SIZE,
  // Supavisor in transaction mode cannot keep prepared statements across transactions.
  prepare: false,
  idle_timeout: 20,
  connection: { application_name: "beacon-functions" },
  onnotice: () => {},
});

export type Tx = postgres.TransactionSql;

/** Verified JWT claims of the caller; `sub` is the auth.users id. */
export type UserClaims = { sub: string; role: "authenticated"; [claim: string]: unknown };

export function asUser<T>(claims: UserClaims, work: (tx: Tx) => Promise<T>): Promise<T> {
  return sql.begin(async (tx) => {
    await tx`select set_config('role', 'authenticated', true),
                    set_config('request.jwt.claims', ${JSON.stringify(claims)}, true)`;
    return await work(tx);
  }) as Promise<T>;
}

export function asService<T>(work: (tx: Tx) => Promise<T>): Promise<T> {
  return sql.begin(async (tx) => {
    await tx`select set_config('request.jwt.claims', '{"role":"service_role"}', true)`;
    return await work(tx);
  }) as Promise<T>;
}
