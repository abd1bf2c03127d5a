// Every statement the dispatcher runs, together (as listmonk keeps its queries): the queues
// live in Postgres (private.claim_email_batch / private.complete_email_batch for email,
// private.claim_webhooks / private.complete_webhooks for workflow webhooks); this side only
// claims, sends and reports.
import { asService } from "../_shared/db.ts";

/** One delivery of a claimed chunk, with its campaign's content beside it. */
export type ClaimedRow = {
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
  subject: string;
  content: string;
  from_email: string | null;
  from_name: string | null;
  reply_to: string | null;
};

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

/** Claims up to `maxChunks` ready chunks under a lease for `worker`. */
export function claimBatch(
  worker: string,
  maxChunks: number,
  leaseSeconds: number,
): Promise<ClaimedRow[]> {
  return asService((tx) =>
    tx<ClaimedRow[]>`
      select delivery_id, chunk_key, idempotency_key, attempt, user_id, email_campaign_id,
             email, first_name, last_name, merge_data, subject, content, from_email, from_name,
             reply_to
      from private.claim_email_batch(${worker}, ${maxChunks}, make_interval(secs => ${leaseSeconds}))`
  );
}

/** Records the results of a chunk; only rows still leased by `worker` are affected. */
export async function completeBatch(
  worker: string,
  results: DeliveryResult[],
): Promise<void> {
  await asService((tx) => tx`select private.complete_email_batch(${worker}, ${tx.json(results)})`);
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
