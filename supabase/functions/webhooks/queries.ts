// Every statement the webhooks function runs itself, all inside the one service transaction
// that receives an event. Recording the event is shared with track and lives in
// _shared/email/events.ts.
import type { Tx } from "../_shared/db.ts";

/**
 * Marks a webhook delivery id processed; false when it was already (a retry of a delivery
 * that was recorded). Written in the event's own transaction, so a failure frees the id.
 */
export async function markProcessed(tx: Tx, id: string): Promise<boolean> {
  const [fresh] = await tx`
    insert into private.processed_webhooks (id) values (${id})
    on conflict do nothing
    returning id`;
  return fresh !== undefined;
}

/** The delivery with our id `deliveryId`; with `owner`, only among that owner's deliveries. */
export async function taggedDelivery(
  tx: Tx,
  deliveryId: string,
  owner: string | undefined,
): Promise<string | undefined> {
  const [row] = await tx`
    select id from public.email_deliveries
    where id = ${deliveryId} and (${owner ?? null}::uuid is null or user_id = ${
    owner ?? null
  }::uuid)`;
  return row?.id;
}

/** The delivery Resend knows by `emailId`; with `owner`, only among that owner's deliveries. */
export async function deliveryByProviderId(
  tx: Tx,
  emailId: string,
  owner: string | undefined,
): Promise<string | undefined> {
  const [row] = await tx`
    select d.id
    from public.email_deliveries as d
    where d.id = private.find_delivery_by_provider_id(${emailId})
      and (${owner ?? null}::uuid is null or d.user_id = ${owner ?? null}::uuid)`;
  return row?.id ?? undefined;
}
