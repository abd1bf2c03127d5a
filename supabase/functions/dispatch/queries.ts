// Every statement the dispatcher runs, together (as listmonk keeps its queries): the queue
// lives in Postgres (private.claim_email_batch / private.complete_email_batch); this side
// only claims, sends and reports.
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
  | { delivery_id: string; outcome: "sent"; provider_message_id: string }
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
