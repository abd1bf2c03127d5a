// The publishing lane: claims due targets (private.claim_social_posts), publishes each through
// its platform's publisher (_shared/social/) and reports the batch in one call
// (private.complete_social_posts). Never posts blindly twice:
//   - a target claimed again (attempts > 1: an earlier try may have reached the platform before
//     its answer or its report was lost) is first looked up among the account's recent posts:
//     its exact text, created since the round's first attempt; found means published;
//   - an answer lost after sending (timeout, 5xx) is looked up at once; not found goes back to
//     the queue, to be looked up again before the next try.
// An expired token is refreshed once with the oauth refresh (the outcome recorded as the
// refresh job records it) and the target tried again; a refused refresh makes the target
// needs_reauth. Rate limits go back to the queue for the platform's reset without spending an
// attempt; permanent refusals fail with the platform's words.
import { type KeyRing } from "../_shared/crypto.ts";
import { inParallel } from "../_shared/parallel.ts";
import type { ProviderSlot } from "../_shared/providers/registry.ts";
import type { Platform } from "../_shared/providers/config.ts";
import { isOutcome, type PublishOutcome, type PublishTarget } from "../_shared/social/outcome.ts";
import type { Publishers } from "../_shared/social/publishers.ts";
import { refreshOne } from "../oauth/refresh.ts";
import { recordOutcomes } from "../oauth/store.ts";
import { openTokens, type SealedTokens } from "../oauth/tokens.ts";
import {
  type ClaimedMetrics,
  type ClaimedPost,
  claimMetrics,
  claimPosts,
  completePosts,
  type MetricsResult,
  type PostingConnection,
  postingConnections,
  type PostOutcome,
  type PostResult,
  recordMetrics,
} from "./queries.ts";

export type SocialDeps = {
  publishers: Publishers;
  providers: Record<Platform, ProviderSlot>;
  ring: KeyRing;
  /** Targets published side by side. */
  concurrency: number;
  /** Targets per claim. */
  batch: number;
};

export type SocialCounts = {
  claimed: number;
  published: number;
  /** Of those published: found on the platform instead of posted again. */
  reconciled: number;
  retried: number;
  failed: number;
  needs_reauth: number;
  /** Time spent waiting on Postgres (claim, connections, complete). */
  db_ms: number;
  /** Time spent publishing a claimed batch (platform calls, token refreshes). */
  platform_ms: number;
  /** Why the lane stopped early, if it failed. */
  error?: string;
};

export type MetricsCounts = {
  claimed: number;
  recorded: number;
  failed: number;
  /** Why the lane stopped early, if it failed. */
  error?: string;
};

type Final = PublishOutcome & { reconciled?: boolean };

/** A target whose post may exist is retried after this long (platforms index new posts fast). */
const LOOKUP_AGAIN_SECONDS = 60;

export function createSocialLane(deps: SocialDeps) {
  /** One try with `accessToken`: reconcile first when claimed before, and after a lost answer. */
  async function tryOnce(
    row: ClaimedPost,
    target: PublishTarget,
  ): Promise<Final> {
    const publisher = deps.publishers[row.platform];
    if (row.attempts > 1) {
      const found = await publisher.findRecent(target);
      if (isOutcome(found)) return found;
      if (found) return { kind: "published", ...found, reconciled: true };
    }
    const outcome = await publisher.publish(target);
    if (outcome.kind !== "maybe_posted") return outcome;
    const found = await publisher.findRecent(target);
    if (found && !isOutcome(found)) {
      return { kind: "published", ...found, reconciled: true };
    }
    return {
      kind: "maybe_posted",
      message: `${outcome.message}; not found among recent posts yet, looked up again first`,
    };
  }

  /** Refreshes the connection's token once; the new plaintext token, or the target's result. */
  async function refresh(
    row: ClaimedPost,
    connection: PostingConnection,
  ): Promise<string | PostOutcome> {
    const outcome = await refreshOne(
      { providers: deps.providers },
      deps.ring,
      connection,
    );
    if (outcome.kind === "expiring" || outcome.kind === "permanent") {
      if (outcome.kind === "permanent") {
        await recordOutcomes([{
          ...outcome,
          claimed: connection.access_token,
        }]);
      }
      return {
        outcome: "needs_reauth",
        error: `the token expired and ${outcome.error}`,
      };
    }
    if (outcome.kind === "transient") {
      return {
        outcome: "retry",
        error: `the token expired and its refresh failed: ${outcome.error}`,
        retry_after_seconds: 60,
        count_attempt: true,
      };
    }
    const { superseded } = await recordOutcomes([{
      ...outcome,
      claimed: connection.access_token,
    }]);
    // The user reconnected meanwhile: the newer tokens stand; the next try uses them.
    if (superseded.length > 0) {
      return {
        outcome: "retry",
        error: "the connection was renewed while publishing",
        retry_after_seconds: 1,
        count_attempt: false,
      };
    }
    const fresh = await openTokens(deps.ring, {
      ...(outcome as SealedTokens),
      user_id: row.user_id,
      platform: row.platform,
    });
    return fresh.accessToken;
  }

  async function publish(
    row: ClaimedPost,
    connection: PostingConnection | undefined,
  ): Promise<PostOutcome & { reconciled?: boolean }> {
    if (!connection) {
      return { outcome: "failed", error: "the social connection was removed" };
    }
    if (connection.status !== "active") {
      return {
        outcome: "needs_reauth",
        error: `the ${row.platform} connection needs to be connected again`,
      };
    }
    const tokens = await openTokens(deps.ring, connection);
    const target: PublishTarget = {
      accessToken: tokens.accessToken,
      platformUserId: connection.platform_user_id,
      accountId: row.account_id,
      text: row.text,
      mediaUrls: row.media_urls ?? [],
      firstAttemptAt: row.first_attempt_at,
    };
    let outcome = await tryOnce(row, target);
    if (outcome.kind === "expired_token") {
      const fresh = await refresh(row, connection);
      if (typeof fresh !== "string") return fresh;
      outcome = await tryOnce(row, { ...target, accessToken: fresh });
    }
    switch (outcome.kind) {
      case "published":
        return {
          outcome: "published",
          platform_post_id: outcome.id,
          url: outcome.url,
          reconciled: outcome.reconciled,
        };
      case "retry":
        return {
          outcome: "retry",
          error: outcome.message,
          retry_after_seconds: outcome.afterSeconds,
          count_attempt: outcome.countAttempt,
        };
      case "failed":
        return { outcome: "failed", error: outcome.message };
      case "expired_token":
        return {
          outcome: "needs_reauth",
          error: `${outcome.message} (even after a token refresh)`,
        };
      case "maybe_posted":
        // Back to the queue; the next claim (attempts > 1) looks the post up before posting.
        return {
          outcome: "retry",
          error: outcome.message,
          retry_after_seconds: LOOKUP_AGAIN_SECONDS,
          count_attempt: true,
        };
    }
  }

  /** A claimed target's result; whatever it throws becomes a counted retry of its own. */
  async function settle(
    row: ClaimedPost,
    connections: Map<string, PostingConnection>,
  ): Promise<PostResult & { reconciled?: boolean }> {
    try {
      return {
        job_id: Number(row.job_id),
        ...await publish(row, connections.get(row.social_connection_id)),
      };
    } catch (err) {
      console.error(`[dispatch] social post ${row.social_post_id} failed:`, err);
      return {
        job_id: Number(row.job_id),
        outcome: "retry",
        error: `unexpected error: ${(err as Error).message}`,
        retry_after_seconds: LOOKUP_AGAIN_SECONDS,
        count_attempt: true,
      };
    }
  }

  /** Claims and publishes batches until nothing is due or `remainingMs` runs out. */
  async function run(remainingMs: () => number, counts: SocialCounts) {
    const timed = async <T>(bucket: "db_ms" | "platform_ms", work: () => Promise<T>) => {
      const started = performance.now();
      try {
        return await work();
      } finally {
        counts[bucket] += Math.round(performance.now() - started);
      }
    };
    while (remainingMs() > 0) {
      const rows = await timed("db_ms", () => claimPosts(deps.batch));
      if (rows.length === 0) return "drained" as const;
      counts.claimed += rows.length;
      const connections = await timed(
        "db_ms",
        () => postingConnections([...new Set(rows.map((row) => row.social_connection_id))]),
      );
      const results = await timed(
        "platform_ms",
        () => inParallel(rows, deps.concurrency, (row) => settle(row, connections)),
      );
      await timed(
        "db_ms",
        () => completePosts(results.map(({ reconciled: _, ...result }) => result as PostResult)),
      );
      for (const result of results) {
        if (result.outcome === "published") counts.published++;
        else if (result.outcome === "retry") counts.retried++;
        else if (result.outcome === "failed") counts.failed++;
        else counts.needs_reauth++;
        if (result.reconciled) counts.reconciled++;
      }
    }
    return "budget" as const;
  }

  /** Fetches due metrics and records those read, in one call per batch. */
  async function runMetrics(remainingMs: () => number, counts: MetricsCounts) {
    while (remainingMs() > 0) {
      const rows = await claimMetrics(deps.batch);
      if (rows.length === 0) return "drained" as const;
      counts.claimed += rows.length;
      const connections = await postingConnections([
        ...new Set(rows.map((row) => row.social_connection_id)),
      ]);
      const results = await inParallel(
        rows,
        deps.concurrency,
        (row) => metricsOf(row, connections.get(row.social_connection_id)),
      );
      // A post whose metrics could not be read is not recorded: the claim moved its
      // metrics_fetched_at, so it comes round again at the next interval.
      const read = results.filter((result) => result !== undefined);
      await recordMetrics(read);
      counts.recorded += read.length;
      counts.failed += results.length - read.length;
    }
    return "budget" as const;
  }

  /** The post's counts, or undefined when they cannot be read now. */
  async function metricsOf(
    row: ClaimedMetrics,
    connection: PostingConnection | undefined,
  ): Promise<MetricsResult | undefined> {
    if (connection?.status !== "active") return undefined;
    try {
      const tokens = await openTokens(deps.ring, connection);
      const metrics = await deps.publishers[row.platform].metrics({
        accessToken: tokens.accessToken,
        platformUserId: connection.platform_user_id,
        accountId: row.account_id,
        postId: row.platform_post_id,
      });
      if (isOutcome(metrics)) return undefined;
      const known = Object.entries(metrics).filter(([, v]) => typeof v === "number");
      return { social_post_id: row.social_post_id, metrics: Object.fromEntries(known) };
    } catch (err) {
      console.error(`[dispatch] metrics of social post ${row.social_post_id} failed:`, err);
      return undefined;
    }
  }

  return { run, runMetrics, publish };
}

export type SocialLane = ReturnType<typeof createSocialLane>;
