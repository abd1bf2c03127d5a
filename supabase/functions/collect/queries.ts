// Every statement the collect function runs itself: one call of private.collect_events,
// which checks the write key and stores the batch (the rules live in the database).
import { sql } from "../_shared/db.ts";

/** What private.collect_events did with a batch. */
export type Collected = {
  accepted: number;
  duplicates: number;
  dropped: number;
  honor_privacy_signals: boolean;
};

/**
 * Stores a batch of events (JSON text) under the write key `key`; fails 28000 on a bad key.
 * One statement, so one round trip and its own transaction: the service claims asService
 * would set are set by the statement itself (a materialized CTE, evaluated before the call),
 * instead of begin, set_config, call and commit (four round trips a request).
 */
export async function collectEvents(
  key: string,
  events: string,
  client: string | null,
  userAgent: string | null,
  signal: boolean,
): Promise<Collected> {
  const [{ result }] = await sql`
    with service as materialized (
      select set_config('request.jwt.claims', '{"role":"service_role"}', true)
    )
    select private.collect_events(${key}, ${events}::text::jsonb, ${client}::inet,
                                  ${userAgent}::text, ${signal}) as result
    from service`;
  return result;
}
