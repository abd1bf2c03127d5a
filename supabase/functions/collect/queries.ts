// Every statement the collect function runs itself: one call of private.collect_events,
// which checks the write key and stores the batch (the rules live in the database).
import type { Tx } from "../_shared/db.ts";

/** What private.collect_events did with a batch. */
export type Collected = {
  accepted: number;
  duplicates: number;
  dropped: number;
  honor_privacy_signals: boolean;
};

/** Stores a batch of events (JSON text) under the write key `key`; fails 28000 on a bad key. */
export async function collectEvents(
  tx: Tx,
  key: string,
  events: string,
  client: string | null,
  userAgent: string | null,
  signal: boolean,
): Promise<Collected> {
  const [{ result }] = await tx`
    select private.collect_events(${key}, ${events}::text::jsonb, ${client}::inet,
                                  ${userAgent}::text, ${signal}) as result`;
  return result;
}
