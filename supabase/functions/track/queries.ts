// Every statement the track function runs itself. Recording opens, clicks and unsubscribes
// is shared with webhooks and lives in _shared/email/events.ts.
import type { Tx } from "../_shared/db.ts";

/** Whom an unsubscribe link speaks to, and in whose name. */
export type Recipient = { email: string; sender: string };

/**
 * The recipient of a delivery: from the delivery itself, or, when the sender deleted the
 * campaign after sending, from the unsubscribe key it left (kept 60 days). The sender is the
 * campaign's from name or address, else `defaultSender`.
 */
export async function recipientOf(
  tx: Tx,
  deliveryId: string,
  defaultSender: string,
): Promise<Recipient | undefined> {
  const [row] = await tx<Recipient[]>`
    select d.email, coalesce(c.from_name, c.from_email, ${defaultSender}) as sender
    from public.email_deliveries as d
    join public.email_campaigns as c on c.id = d.email_campaign_id
    where d.id = ${deliveryId}
    union all
    select k.email, coalesce(k.sender, ${defaultSender})
    from private.email_unsubscribe_keys as k
    where k.delivery_id = ${deliveryId}
      and k.kept_until > now()
    limit 1`;
  return row;
}
