// The token refresh job (POST /oauth/refresh, run by pg_cron every 15 minutes): claims the
// connections that are due, asks each platform for a fresh token with its own grant, and
// records every outcome of a batch in one statement. Each connection fails alone: whatever
// its refresh throws becomes its own outcome, and an outcome that cannot be stored is split
// out of the batch (store.ts, recordOutcomes), so the others are refreshed in the same run.
// An outcome is stored only if the connection's tokens did not change meanwhile: a refresh
// that finishes after the user reconnected leaves the newer tokens in place (superseded).
//   refreshed    new tokens stored (a missing refresh token keeps the stored one)
//   transient    5xx, 429, network, our own configuration: retried later, never switched off
//   permanent    the provider refuses the grant (invalid_grant, revoked, expired): switched
//                off with status needs_reauth and the reason in last_error
//   expiring     the platform has no refresh grant (Facebook; LinkedIn without programmatic
//                refresh): needs_reauth with the reason, switched off once it has expired
import { type KeyRing, keyRing } from "../_shared/crypto.ts";
import { inParallel } from "../_shared/parallel.ts";
import type { Platform } from "../_shared/providers/config.ts";
import { ProviderError, type StoredTokens } from "../_shared/providers/oauth.ts";
import type { OAuthSettings } from "./settings.ts";
import {
  claimDueConnections,
  type Outcome,
  recordOutcomes,
  type StoredConnection,
} from "./store.ts";
import { openTokens, sealTokens } from "./tokens.ts";

const BATCH = 50;
/** Provider calls in flight at once. */
const CONCURRENCY = 8;
/** A run stops claiming new batches after this long (edge functions have a wall clock). */
const BUDGET_MS = 60_000;

export type RefreshCounts = {
  refreshed: number;
  failed: number;
  deactivated: number;
  /** Refreshed or failed while the user reconnected: nothing stored, the newer tokens kept. */
  superseded: number;
};

export async function refreshDueConnections(
  settings: OAuthSettings,
  options: { userIds?: string[] } = {},
): Promise<RefreshCounts> {
  const ring = await keyRing();
  const counts: RefreshCounts = {
    refreshed: 0,
    failed: 0,
    deactivated: 0,
    superseded: 0,
  };
  const deadline = Date.now() + BUDGET_MS;
  while (Date.now() < deadline) {
    const due = await claimDueConnections(BATCH, options.userIds);
    const outcomes = await inParallel(
      due,
      CONCURRENCY,
      async (row) => ({
        ...await refreshOne(settings, ring, row).catch((err) => {
          console.error(`[oauth] refreshing connection ${row.id} failed:`, err);
          return transient(row, `unexpected error: ${(err as Error).message}`);
        }),
        claimed: row.access_token,
      }),
    );
    const { written, superseded } = await recordOutcomes(outcomes);
    counts.superseded += superseded.length;
    for (const outcome of written) {
      if (outcome.kind === "refreshed") counts.refreshed++;
      else if (outcome.kind === "permanent") counts.deactivated++;
      else counts.failed++;
    }
    if (due.length < BATCH) break;
  }
  return counts;
}

/**
 * One connection's refresh as an outcome to record (never throws for the platform's answers).
 * The dispatcher uses it too, when a platform says a token it was about to use has expired.
 */
export async function refreshOne(
  settings: Pick<OAuthSettings, "providers">,
  ring: KeyRing,
  row: StoredConnection,
): Promise<Outcome> {
  const platform = row.platform as Platform;
  const { provider, config } = settings.providers[platform];
  if (!provider) {
    return transient(row, `not refreshed: set ${config.missing.join(" and ")}`);
  }
  let tokens: StoredTokens;
  try {
    tokens = await openTokens(ring, row);
  } catch (err) {
    return transient(
      row,
      `the stored token does not decrypt: ${(err as Error).message}`,
    );
  }
  try {
    const result = await provider.refresh(tokens);
    if ("unsupported" in result) {
      const expired = row.expires_at !== null &&
        row.expires_at.getTime() <= Date.now();
      const when = row.expires_at?.toISOString() ?? "its expiry";
      return expired
        ? {
          id: row.id,
          kind: "permanent",
          error: `${result.unsupported}; the token expired at ${when}`,
        }
        : {
          id: row.id,
          kind: "expiring",
          error: `${result.unsupported} before ${when}`,
        };
    }
    const fresh = result.refreshed;
    return {
      id: row.id,
      kind: "refreshed",
      ...await sealTokens(ring, row.user_id, platform, fresh),
      expires_at: fresh.expiresAt?.toISOString() ?? null,
      scopes: fresh.scopes ?? null,
    };
  } catch (err) {
    if (err instanceof ProviderError && !err.transient) {
      return {
        id: row.id,
        kind: "permanent",
        error: `${platform}: ${err.message}`,
      };
    }
    const failure = err instanceof ProviderError ? err : undefined;
    if (!failure) {
      console.error(`[oauth] refreshing connection ${row.id} failed:`, err);
    }
    return transient(
      row,
      `${platform}: ${failure?.message ?? "unexpected error"}`,
      failure?.retryAt,
    );
  }
}

const transient = (
  row: StoredConnection,
  error: string,
  retryAt?: Date,
): Outcome => ({
  id: row.id,
  kind: "transient",
  error,
  retry_at: retryAt?.toISOString() ?? null,
});
