// What the oauth function keeps, and how: states stored as hashes, tokens sealed, a refresh
// batch written at once and split when it fails. The statements are in queries.ts; all run as
// the service.
import { Buffer } from "node:buffer";
import type { KeyRing } from "../_shared/crypto.ts";
import { asService } from "../_shared/db.ts";
import type { Platform } from "../_shared/providers/config.ts";
import type { Connection } from "../_shared/providers/oauth.ts";
import * as queries from "./queries.ts";
import type { ConsumedState, StoredConnection } from "./queries.ts";
import { sealTokens } from "./tokens.ts";

export type { ConsumedState, StoredConnection };

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
  const stateHash = await sha256Hex(row.state);
  await asService((tx) =>
    queries.insertState(tx, {
      stateHash,
      userId: row.userId,
      platform: row.platform,
      codeVerifier: row.codeVerifier ?? null,
      redirectTo: row.redirectTo,
    })
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
  return await asService((tx) => queries.bindState(tx, hash, platform, fresh, presented));
}

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
  return await asService((tx) => queries.consumeState(tx, hash, browser));
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
  await asService((tx) =>
    queries.upsertConnection(tx, {
      userId,
      platform,
      platformUserId: connection.platformUserId,
      username: connection.username ?? null,
      accessToken: access,
      refreshToken: refresh,
      expiresAt: tokens.expiresAt?.toISOString() ?? null,
      scopes: tokens.scopes,
      accounts: connection.accounts,
    })
  );
}

/** Deletes the user's connection and hands back its (encrypted) tokens for revocation. */
export async function removeConnection(
  userId: string,
  platform: Platform,
): Promise<StoredConnection | undefined> {
  return await asService((tx) => queries.deleteConnection(tx, userId, platform));
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
  return asService((tx) => queries.claimDueConnections(tx, limit, LEASE, userIds ?? null));
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
  return await asService((tx) => queries.writeOutcomes(tx, rows));
}
