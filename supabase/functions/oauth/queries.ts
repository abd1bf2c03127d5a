// Every statement the oauth function runs, in one place; store.ts says what they mean (hashes
// the state, seals the tokens, splits a batch that fails). All run as the service (the
// connection's own role): private.oauth_states is closed to clients, and the token columns of
// social_connections are neither readable nor writable by them.
import type { Tx } from "../_shared/db.ts";
import type { Platform } from "../_shared/providers/config.ts";

// --- OAuth states -----------------------------------------------------------------------------
// Hashes are SHA-256 in hex: what private.oauth_states keeps of the state and of the nonce.

export async function insertState(tx: Tx, row: {
  stateHash: string;
  userId: string;
  platform: Platform;
  codeVerifier: string | null;
  redirectTo: string;
}): Promise<void> {
  await tx`insert into private.oauth_states (state_hash, user_id, platform, code_verifier, redirect_to)
     values (decode(${row.stateHash}, 'hex'), ${row.userId}, ${row.platform},
             ${row.codeVerifier}, ${row.redirectTo})`;
}

/**
 * Binds a live state to the browser whose nonce hashes to `freshHash` unless it is bound
 * already; passes when it is unbound or bound to `presentedHash`. Returns the PKCE verifier
 * and whether `freshHash` was stored, or undefined.
 */
export async function bindState(
  tx: Tx,
  stateHash: string,
  platform: Platform,
  freshHash: string,
  presentedHash: string | null,
): Promise<{ code_verifier: string | null; bound: boolean } | undefined> {
  const [row] = await tx<{ code_verifier: string | null; bound: boolean }[]>`
    update private.oauth_states
    set browser_hash = coalesce(browser_hash, decode(${freshHash}, 'hex'))
    where state_hash = decode(${stateHash}, 'hex')
      and platform = ${platform}
      and expires_at > now()
      and (browser_hash is null or browser_hash = decode(${presentedHash}, 'hex'))
    returning code_verifier, browser_hash = decode(${freshHash}, 'hex') as bound`;
  return row;
}

export type ConsumedState = {
  user_id: string;
  platform: Platform;
  code_verifier: string | null;
  redirect_to: string;
  expired: boolean;
};

/** Deletes the state bound to the browser `browserHash` and returns what it held. */
export async function consumeState(
  tx: Tx,
  stateHash: string,
  browserHash: string,
): Promise<ConsumedState | undefined> {
  const [row] = await tx<ConsumedState[]>`
    delete from private.oauth_states
    where state_hash = decode(${stateHash}, 'hex')
      and browser_hash = decode(${browserHash}, 'hex')
    returning user_id, platform, code_verifier, redirect_to, expires_at <= now() as expired`;
  return row;
}

// --- connections ------------------------------------------------------------------------------

/**
 * Stores a connection (one per user and platform), active, with these (sealed) tokens. A
 * refresh token is never replaced by none; it is dropped only when another account was
 * connected. The next refresh is due halfway through the access token's life.
 */
export async function upsertConnection(tx: Tx, row: {
  userId: string;
  platform: Platform;
  platformUserId: string;
  username: string | null;
  accessToken: string;
  refreshToken: string | null;
  expiresAt: string | null;
  scopes: string[];
  accounts: unknown;
}): Promise<void> {
  await tx`
    insert into public.social_connections as c (
      user_id, platform, platform_user_id, username, access_token, refresh_token, expires_at,
      scopes, accounts, status, is_active, last_error, last_refreshed_at, refresh_failures,
      next_refresh_at
    )
    values (
      ${row.userId}, ${row.platform}, ${row.platformUserId}, ${row.username},
      ${row.accessToken}, ${row.refreshToken}, ${row.expiresAt}::timestamptz, ${row.scopes}::text[],
      ${tx.json(row.accounts as never)}::jsonb, 'active', true, null, now(), 0,
      now() + (${row.expiresAt}::timestamptz - now()) / 2
    )
    on conflict (user_id, platform) do update set
      platform_user_id = excluded.platform_user_id,
      username = excluded.username,
      access_token = excluded.access_token,
      refresh_token = case
        when excluded.refresh_token is not null then excluded.refresh_token
        when c.platform_user_id = excluded.platform_user_id then c.refresh_token
      end,
      expires_at = excluded.expires_at,
      scopes = excluded.scopes,
      accounts = excluded.accounts,
      status = 'active',
      is_active = true,
      last_error = null,
      last_refreshed_at = now(),
      refresh_failures = 0,
      next_refresh_at = excluded.next_refresh_at`;
}

export type StoredConnection = {
  id: string;
  user_id: string;
  platform: Platform;
  access_token: string;
  refresh_token: string | null;
  expires_at: Date | null;
};

/** Deletes the user's connection and hands back its (encrypted) tokens. */
export async function deleteConnection(
  tx: Tx,
  userId: string,
  platform: Platform,
): Promise<StoredConnection | undefined> {
  const [row] = await tx<StoredConnection[]>`
    delete from public.social_connections
    where user_id = ${userId} and platform = ${platform}
    returning id, user_id, platform, access_token, refresh_token, expires_at`;
  return row;
}

// --- the refresh job --------------------------------------------------------------------------

/**
 * Claims up to `limit` connections (of `userIds`, when given) whose token expires within 24
 * hours and whose next refresh is due, moving next_refresh_at ahead by `lease`: `skip locked`
 * passes over rows another run is claiming right now, and the lease keeps them from every
 * other run until the outcome is recorded. Connections needing re-authorisation are left
 * alone, unless still active past their due time.
 */
export function claimDueConnections(
  tx: Tx,
  limit: number,
  lease: string,
  userIds: string[] | null,
): Promise<StoredConnection[]> {
  return tx<StoredConnection[]>`
    update public.social_connections as c
    set next_refresh_at = now() + ${lease}::interval
    from (
      select id
      from public.social_connections
      where expires_at < now() + interval '24 hours'
        and (next_refresh_at is null or next_refresh_at <= now())
        and (is_active or status = 'disconnected')
        and (${userIds}::uuid[] is null or user_id = any(${userIds}::uuid[]))
      order by expires_at
      limit ${limit}
      for update skip locked
    ) as due
    where c.id = due.id
    returning c.id, c.user_id, c.platform, c.access_token, c.refresh_token, c.expires_at`;
}

/** One refresh outcome as writeOutcomes takes it (see store.ts, Outcome). */
export type OutcomeRow = {
  id: string;
  kind: "refreshed" | "transient" | "permanent" | "expiring";
  /** The access token ciphertext the refresh started from. */
  claimed: string;
  access_token?: string;
  refresh_token?: string | null;
  expires_at?: string | null;
  scopes?: string[] | null;
  error?: string;
  retry_at?: string | null;
};

/**
 * Writes many outcomes in one statement, each only while its connection still holds the
 * access token ciphertext the refresh started from (compare-and-set); the ids it wrote.
 */
export async function writeOutcomes(tx: Tx, rows: OutcomeRow[]): Promise<Set<string>> {
  const written = await tx<{ id: string }[]>`
    update public.social_connections as c
    set access_token = coalesce(o.access_token, c.access_token),
        refresh_token = coalesce(o.refresh_token, c.refresh_token),
        expires_at = case when o.kind = 'refreshed' then o.expires_at else c.expires_at end,
        scopes = coalesce(o.scopes, c.scopes),
        status = case when o.kind in ('permanent', 'expiring') then 'needs_reauth' else c.status end,
        is_active = case when o.kind = 'permanent' then false else c.is_active end,
        last_error = case when o.kind = 'refreshed' then null else left(o.error, 1000) end,
        last_refreshed_at = case when o.kind = 'refreshed' then now() else c.last_refreshed_at end,
        refresh_failures = case
          when o.kind = 'refreshed' then 0
          when o.kind in ('transient', 'permanent') then c.refresh_failures + 1
          else c.refresh_failures
        end,
        next_refresh_at = case o.kind
          when 'refreshed' then now() + (o.expires_at - now()) / 2
          when 'transient' then greatest(
            o.retry_at,
            now() + least(interval '5 minutes' * power(2, least(c.refresh_failures, 10)), interval '6 hours')
          )
          when 'expiring' then c.expires_at
        end
    from jsonb_to_recordset(${tx.json(rows as never)}::jsonb) as o(
      id uuid, kind text, access_token text, refresh_token text, expires_at timestamptz,
      scopes text[], error text, retry_at timestamptz, claimed text
    )
    where c.id = o.id
      and c.access_token = o.claimed
    returning c.id`;
  return new Set(written.map((row) => row.id));
}
