// Every statement the oauth function runs, in one place. All run as the service (the
// connection's own role): private.oauth_states is closed to clients, and the token columns
// of social_connections are neither readable nor writable by them.
import { Buffer } from "node:buffer";
import type { KeyRing } from "../_shared/crypto.ts";
import { asService } from "../_shared/db.ts";
import type { Platform } from "../_shared/providers/config.ts";
import type { Connection } from "../_shared/providers/oauth.ts";
import { sealTokens } from "./tokens.ts";

/** SHA-256, hex: what private.oauth_states keeps of the state and of the browser's nonce. */
export async function sha256Hex(text: string): Promise<string> {
  const digest = await crypto.subtle.digest(
    "SHA-256",
    new TextEncoder().encode(text),
  );
  return Buffer.from(digest).toString("hex");
}

// --- OAuth states -----------------------------------------------------------------------------

export async function insertState(row: {
  state: string;
  userId: string;
  platform: Platform;
  codeVerifier?: string;
  redirectTo: string;
}): Promise<void> {
  const hash = await sha256Hex(row.state);
  await asService((tx) =>
    tx`insert into private.oauth_states (state_hash, user_id, platform, code_verifier, redirect_to)
       values (decode(${hash}, 'hex'), ${row.userId}, ${row.platform},
               ${row.codeVerifier ?? null}, ${row.redirectTo})`
  );
}

/**
 * Binds a live, unbound state to the browser opening /go: stores the SHA-256 of `fresh`, the
 * nonce its new cookie will hold. A browser coming back to /go presents its cookie
 * (`presented`) and passes again; any other browser finds nothing. Returns the PKCE verifier
 * and whether `fresh` was stored (so the cookie must be set), or undefined.
 */
export async function bindState(
  state: string,
  platform: Platform,
  browser: { fresh: string; presented?: string },
): Promise<{ code_verifier: string | null; bound: boolean } | undefined> {
  const hash = await sha256Hex(state);
  const fresh = await sha256Hex(browser.fresh);
  const presented = browser.presented ? await sha256Hex(browser.presented) : null;
  const rows = await asService((tx) =>
    tx<{ code_verifier: string | null; bound: boolean }[]>`
      update private.oauth_states
      set browser_hash = coalesce(browser_hash, decode(${fresh}, 'hex'))
      where state_hash = decode(${hash}, 'hex')
        and platform = ${platform}
        and expires_at > now()
        and (browser_hash is null or browser_hash = decode(${presented}, 'hex'))
      returning code_verifier, browser_hash = decode(${fresh}, 'hex') as bound`
  );
  return rows[0];
}

export type ConsumedState = {
  user_id: string;
  platform: Platform;
  code_verifier: string | null;
  redirect_to: string;
  expired: boolean;
};

/**
 * Takes the state once, and only for the browser it was bound to at /go: whoever comes second
 * (a replay) or from another browser finds nothing, and changes nothing.
 */
export async function consumeState(
  state: string,
  nonce: string,
): Promise<ConsumedState | undefined> {
  const hash = await sha256Hex(state);
  const browser = await sha256Hex(nonce);
  const rows = await asService((tx) =>
    tx<ConsumedState[]>`
      delete from private.oauth_states
      where state_hash = decode(${hash}, 'hex')
        and browser_hash = decode(${browser}, 'hex')
      returning user_id, platform, code_verifier, redirect_to, expires_at <= now() as expired`
  );
  return rows[0];
}

// --- connections ------------------------------------------------------------------------------

/**
 * Stores a connection (one per user and platform), active and with fresh tokens. A refresh
 * token is never replaced by none; it is dropped only when another account was connected.
 * The next refresh is due halfway through the access token's life.
 */
export async function saveConnection(
  ring: KeyRing,
  userId: string,
  platform: Platform,
  connection: Connection,
): Promise<void> {
  const { tokens } = connection;
  const { access_token: access, refresh_token: refresh } = await sealTokens(
    ring,
    userId,
    platform,
    tokens,
  );
  const expiresAt = tokens.expiresAt?.toISOString() ?? null;
  const username = connection.username ?? null;
  const accounts = connection.accounts;
  await asService((tx) =>
    tx`
      insert into public.social_connections as c (
        user_id, platform, platform_user_id, username, access_token, refresh_token, expires_at,
        scopes, accounts, status, is_active, last_error, last_refreshed_at, refresh_failures,
        next_refresh_at
      )
      values (
        ${userId}, ${platform}, ${connection.platformUserId}, ${username},
        ${access}, ${refresh}, ${expiresAt}::timestamptz, ${tokens.scopes}::text[],
        ${tx.json(accounts)}::jsonb, 'active', true, null, now(), 0,
        now() + (${expiresAt}::timestamptz - now()) / 2
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
        next_refresh_at = excluded.next_refresh_at`
  );
}

export type StoredConnection = {
  id: string;
  user_id: string;
  platform: Platform;
  access_token: string;
  refresh_token: string | null;
  expires_at: Date | null;
};

/** Deletes the user's connection and hands back its (encrypted) tokens for revocation. */
export async function removeConnection(
  userId: string,
  platform: Platform,
): Promise<StoredConnection | undefined> {
  const rows = await asService((tx) =>
    tx<StoredConnection[]>`
      delete from public.social_connections
      where user_id = ${userId} and platform = ${platform}
      returning id, user_id, platform, access_token, refresh_token, expires_at`
  );
  return rows[0];
}

// --- the refresh job --------------------------------------------------------------------------

/** How long a claimed connection stays out of other runs' reach while it is refreshed. */
const LEASE = "5 minutes";

/**
 * Claims up to `limit` connections whose token expires within 24 hours and whose next
 * refresh is due. `skip locked` passes over rows another run is claiming right now, and the
 * lease (next_refresh_at moved ahead) keeps them from every other run until the outcome is
 * recorded, so no connection is refreshed twice at once. Connections needing
 * re-authorisation are left alone, unless still active past their due time (see
 * recordOutcomes: an unrenewable token is switched off when it expires).
 */
export function claimDueConnections(
  limit: number,
  userIds?: string[],
): Promise<StoredConnection[]> {
  return asService((tx) =>
    tx<StoredConnection[]>`
      update public.social_connections as c
      set next_refresh_at = now() + ${LEASE}::interval
      from (
        select id
        from public.social_connections
        where expires_at < now() + interval '24 hours'
          and (next_refresh_at is null or next_refresh_at <= now())
          and (is_active or status = 'disconnected')
          and (${userIds ?? null}::uuid[] is null or user_id = any(${userIds ?? null}::uuid[]))
        order by expires_at
        limit ${limit}
        for update skip locked
      ) as due
      where c.id = due.id
      returning c.id, c.user_id, c.platform, c.access_token, c.refresh_token, c.expires_at`
  );
}

export type Outcome =
  | {
    id: string;
    kind: "refreshed";
    access_token: string;
    refresh_token: string | null;
    expires_at: string | null;
    scopes: string[] | null;
  }
  /** Retry later: at retry_at if the provider said, else with exponential backoff. */
  | { id: string; kind: "transient"; error: string; retry_at: string | null }
  /** The grant is dead: switched off, needs re-authorisation. */
  | { id: string; kind: "permanent"; error: string }
  /** No refresh grant exists: needs re-authorisation, usable until it expires. */
  | { id: string; kind: "expiring"; error: string };

/** An outcome together with the token ciphertext the refresh started from. */
export type Claimed = Outcome & { claimed: string };

export type Recorded = {
  /** Written to their connections (an unwritable one as `permanent`, with the reason). */
  written: Outcome[];
  /** Not written: the connection's tokens changed while it was refreshed (a reconnect). */
  superseded: Outcome[];
};

/**
 * Writes the outcomes of a batch: in one statement, and when that fails, one by one, so one
 * connection whose outcome cannot be stored (a provider answer that breaks a constraint) is
 * switched off with the reason while the others are written.
 *
 * Compare-and-set: an outcome is written only while the connection still holds the access
 * token ciphertext the refresh started from. Every token write encrypts with a fresh nonce,
 * so an equal ciphertext means nobody stored tokens in between; a refresh that finishes after
 * the user reconnected leaves the newer tokens alone.
 */
export async function recordOutcomes(outcomes: Claimed[]): Promise<Recorded> {
  if (outcomes.length === 0) return { written: [], superseded: [] };
  let ids: Set<string>;
  try {
    ids = await writeOutcomes(outcomes);
  } catch (err) {
    if (outcomes.length === 1) return await recordUnwritable(outcomes[0], err);
    const recorded: Recorded = { written: [], superseded: [] };
    for (const outcome of outcomes) {
      const one = await recordOutcomes([outcome]);
      recorded.written.push(...one.written);
      recorded.superseded.push(...one.superseded);
    }
    return recorded;
  }
  return {
    written: outcomes.filter((o) => ids.has(o.id)),
    superseded: outcomes.filter((o) => !ids.has(o.id)),
  };
}

/** The outcome could not be stored: the connection needs re-authorisation, and says why. */
async function recordUnwritable(outcome: Claimed, err: unknown): Promise<Recorded> {
  console.error(`[oauth] the refresh outcome of connection ${outcome.id} cannot be stored:`, err);
  const what = outcome.kind === "refreshed" ? "refreshed tokens" : "refresh result";
  const permanent: Claimed = {
    id: outcome.id,
    kind: "permanent",
    claimed: outcome.claimed,
    error: `the ${what} could not be stored (${(err as Error).message}); connect again`,
  };
  try {
    const ids = await writeOutcomes([permanent]);
    return ids.has(outcome.id)
      ? { written: [permanent], superseded: [] }
      : { written: [], superseded: [outcome] };
  } catch (again) {
    // Left leased: the next run after the lease tries again.
    console.error(`[oauth] connection ${outcome.id} cannot be marked either:`, again);
    return { written: [], superseded: [] };
  }
}

/** One statement for many outcomes; the ids of the connections it wrote. */
async function writeOutcomes(outcomes: Claimed[]): Promise<Set<string>> {
  // Postgres text cannot hold NUL: a provider's message must not make the write fail.
  const rows = outcomes.map((o) =>
    "error" in o ? { ...o, error: o.error.replaceAll("\0", "") } : o
  );
  const written = await asService((tx) =>
    tx<{ id: string }[]>`
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
      from jsonb_to_recordset(${tx.json(rows)}::jsonb) as o(
        id uuid, kind text, access_token text, refresh_token text, expires_at timestamptz,
        scopes text[], error text, retry_at timestamptz, claimed text
      )
      where c.id = o.id
        and c.access_token = o.claimed
      returning c.id`
  );
  return new Set(written.map((row) => row.id));
}
