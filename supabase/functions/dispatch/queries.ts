// Every statement the dispatcher runs, together (as listmonk keeps its queries): the queues
// live in Postgres (private.claim_email_batch / private.complete_email_batch for email,
// private.claim_webhooks / private.complete_webhooks for workflow webhooks, the social_*
// functions for posts and their metrics); this side only claims, sends and reports.
import { asService, sql } from "../_shared/db.ts";
import { cachedLookup } from "../_shared/memo.ts";
import type { Platform } from "../_shared/providers/config.ts";
import type { SealedTokens } from "../oauth/tokens.ts";

/** One delivery of a claimed chunk, as private.claim_email_batch returns it. */
type ClaimedMember = {
  delivery_id: string;
  chunk_key: string;
  idempotency_key: string;
  attempt: number;
  user_id: string;
  email_campaign_id: string;
  email: string;
  first_name: string | null;
  last_name: string | null;
  merge_data: Record<string, unknown> | null;
};

/** What a campaign sends (private.email_campaign_content). */
export type CampaignContent = {
  subject: string;
  content: string;
  from_email: string | null;
  from_name: string | null;
  reply_to: string | null;
};

/** One delivery of a claimed chunk, with its campaign's content beside it. */
export type ClaimedRow = ClaimedMember & CampaignContent;

/** What became of one delivery, as private.complete_email_batch takes it. */
export type DeliveryResult =
  | {
    delivery_id: string;
    outcome: "sent";
    /** Resend's id; null when only the chunk's earlier attempt got one (see transports.ts). */
    provider_message_id: string | null;
  }
  | { delivery_id: string; outcome: "failed"; error: string }
  | {
    delivery_id: string;
    outcome: "retry";
    error: string;
    retry_after_seconds?: number;
  };

// The email lane's claim and report are one statement each, sent as one round trip (not
// wrapped in asService's begin, set_config and commit: four round trips, each waiting for the
// lane's event loop). Neither function, nor any trigger they fire, reads the caller's claims.

/**
 * Campaigns' content by id, each read once: a sending campaign's content is frozen
 * (private.enforce_email_campaign_lifecycle), so one dispatch run reads it once per campaign
 * instead of beside every claimed member. Null: the campaign is gone (deleted since the claim,
 * and its deliveries with it).
 */
export function campaignContents(): (
  campaignId: string,
) => Promise<CampaignContent | null> {
  return cachedLookup(async (campaignId) => {
    const [content] = await sql<CampaignContent[]>`
      select subject, content, from_email, from_name, reply_to
      from private.email_campaign_content(${[campaignId]}::uuid[])`;
    return content ?? null;
  });
}

/**
 * Claims up to `maxChunks` ready chunks under a lease for `worker`, each member with its
 * campaign's content. Members of a campaign gone since the claim are reported failed (their
 * deliveries went with it; the report only settles their chunk), and the claim goes on; if
 * the content cannot be read, the claimed members go back to the queue before the error is
 * thrown, rather than wait out their lease.
 */
export async function claimBatch(
  worker: string,
  maxChunks: number,
  leaseSeconds: number,
  campaigns: (campaignId: string) => Promise<CampaignContent | null>,
): Promise<ClaimedRow[]> {
  for (;;) {
    const members = await sql<ClaimedMember[]>`
      select delivery_id, chunk_key, idempotency_key, attempt, user_id, email_campaign_id,
             email, first_name, last_name, merge_data
      from private.claim_email_batch(${worker}, ${maxChunks}, make_interval(secs => ${leaseSeconds}))`;
    if (members.length === 0) return [];
    const ids = [...new Set(members.map((member) => member.email_campaign_id))];
    let contents: Map<string, CampaignContent | null>;
    try {
      contents = new Map(
        await Promise.all(ids.map(async (id) => [id, await campaigns(id)] as const)),
      );
    } catch (err) {
      const error = `the campaign's content could not be read: ${(err as Error).message}`;
      await completeBatch(
        worker,
        members.map((m) => ({ delivery_id: m.delivery_id, outcome: "retry", error })),
      );
      throw err;
    }
    const rows: ClaimedRow[] = [];
    const gone: DeliveryResult[] = [];
    for (const member of members) {
      const content = contents.get(member.email_campaign_id);
      if (content) {
        rows.push({ ...member, ...content });
      } else {
        gone.push({
          delivery_id: member.delivery_id,
          outcome: "failed",
          error: "the campaign is gone",
        });
      }
    }
    if (gone.length > 0) await completeBatch(worker, gone);
    // Only when every member claimed was of a campaign gone: claim again, so that an empty
    // result still means an empty queue.
    if (rows.length > 0) return rows;
  }
}

/** Records the results of a chunk; only rows still leased by `worker` are affected. */
export async function completeBatch(
  worker: string,
  results: DeliveryResult[],
): Promise<void> {
  await sql`select private.complete_email_batch(${worker}, ${sql.json(results)})`;
}

/** The owner's verified sending domains (what the platform's Resend key may send from). */
export async function verifiedDomains(userId: string): Promise<Set<string>> {
  const rows = await asService((tx) =>
    tx<{ domain: string }[]>`
      select domain from public.sending_domains where user_id = ${userId} and status = 'verified'`
  );
  return new Set(rows.map((row) => row.domain));
}

/** A workflow webhook leased to this run (private.claim_webhooks). */
export type ClaimedWebhook = {
  webhook_id: string;
  idempotency_key: string;
  attempt: number;
  user_id: string;
  url: string;
  secret_name: string;
  headers: Record<string, string>;
  /** The exact JSON text to POST (and to sign). */
  body: string;
};

/** What became of one webhook, as private.complete_webhooks takes it. */
export type WebhookResult = {
  webhook_id: string;
  outcome: "sent" | "retry" | "failed";
  http_status?: number;
  error?: string;
  retry_after_seconds?: number;
};

/** Leases up to `max` due workflow webhooks to `worker`. */
export function claimWebhooks(
  worker: string,
  max: number,
  leaseSeconds: number,
): Promise<ClaimedWebhook[]> {
  return asService((tx) =>
    tx<ClaimedWebhook[]>`
      select webhook_id, idempotency_key, attempt, user_id, url, secret_name, headers, body
      from private.claim_webhooks(${worker}, ${max}, make_interval(secs => ${leaseSeconds}))`
  );
}

/** Records webhook results; only rows still leased by `worker` are affected. */
export async function completeWebhooks(
  worker: string,
  results: WebhookResult[],
): Promise<void> {
  await asService((tx) => tx`select private.complete_webhooks(${worker}, ${tx.json(results)})`);
}

// --- social publishing and metrics (private.claim_social_posts, complete_social_posts,
// claim_social_metrics, record_social_metrics: the social_publish and social_metrics kinds of
// the one queue) ----------------------------------------------------------------------------

/** A target leased to this run: one content × connection. */
export type ClaimedPost = {
  job_id: string;
  social_post_id: string;
  user_id: string;
  platform: Platform;
  social_connection_id: string;
  account_id: string | null;
  text: string;
  media_urls: string[];
  /** When this round's first attempt was claimed (before anything was sent). */
  first_attempt_at: Date;
  /** This claim included. */
  attempts: number;
};

/** What became of one target. */
export type PostOutcome =
  | { outcome: "published"; platform_post_id: string; url: string | null }
  | {
    outcome: "retry";
    error: string;
    retry_after_seconds: number;
    count_attempt: boolean;
  }
  | { outcome: "failed" | "needs_reauth"; error: string };

/** One target's outcome as private.complete_social_posts takes it (`job_id`: a JSON number). */
export type PostResult = PostOutcome & { job_id: number };

/** A connection with its sealed tokens, as the publishers need it. */
export type PostingConnection = SealedTokens & {
  id: string;
  user_id: string;
  platform: Platform;
  platform_user_id: string;
  status: string;
  expires_at: Date | null;
};

/** Leases up to `limit` due targets (fair across owners). */
export function claimPosts(limit: number): Promise<ClaimedPost[]> {
  return asService((tx) =>
    tx<ClaimedPost[]>`
      select job_id::text, social_post_id, user_id, platform, social_connection_id, account_id,
             text, media_urls, first_attempt_at, attempts
      from private.claim_social_posts(${limit})`
  );
}

/** Reports a batch of targets in one statement. */
export async function completePosts(results: PostResult[]): Promise<void> {
  if (results.length === 0) return;
  await asService((tx) => tx`select private.complete_social_posts(${tx.json(results)})`);
}

/** The connections behind claimed targets, by id. */
export async function postingConnections(
  ids: string[],
): Promise<Map<string, PostingConnection>> {
  const rows = await asService((tx) =>
    tx<PostingConnection[]>`
      select id, user_id, platform, platform_user_id, status, expires_at, access_token,
             refresh_token
      from public.social_connections
      where id = any(${ids}::uuid[])`
  );
  return new Map(rows.map((row) => [row.id, row]));
}

/** A published post whose public metrics are due (private.claim_social_metrics). */
export type ClaimedMetrics = {
  social_post_id: string;
  user_id: string;
  platform: Platform;
  social_connection_id: string;
  account_id: string | null;
  platform_post_id: string;
};

/** A post's counts, as private.record_social_metrics takes them. */
export type MetricsResult = {
  social_post_id: string;
  metrics: Record<string, number>;
};

export function claimMetrics(limit: number): Promise<ClaimedMetrics[]> {
  return asService((tx) =>
    tx<ClaimedMetrics[]>`
      select social_post_id, user_id, platform, social_connection_id, account_id,
             platform_post_id
      from private.claim_social_metrics(${limit})`
  );
}

export async function recordMetrics(results: MetricsResult[]): Promise<void> {
  if (results.length === 0) return;
  await asService((tx) => tx`select private.record_social_metrics(${tx.json(results)})`);
}
