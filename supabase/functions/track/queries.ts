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

/** A subscription list a recipient may leave. */
export type MemberList = { id: string; name: string };

/** The lists the delivery's lead is on and has not left, by name. */
export async function listsOf(tx: Tx, deliveryId: string): Promise<MemberList[]> {
  return [
    ...await tx<MemberList[]>`
      select l.id, l.name
      from public.email_deliveries as d
      join public.list_memberships as m on m.lead_id = d.lead_id and m.user_id = d.user_id
      join public.lists as l on l.id = m.list_id
      where d.id = ${deliveryId}
        and m.unsubscribed_at is null
      order by l.name`,
  ];
}

/**
 * The delivery's lead leaves one list (a repeat changes nothing); the list's name, or
 * undefined when the lead was never on it.
 */
export async function leaveList(
  tx: Tx,
  deliveryId: string,
  listId: string,
): Promise<string | undefined> {
  const [row] = await tx<{ name: string }[]>`
    with member as (
      select m.list_id, m.lead_id, l.name
      from public.email_deliveries as d
      join public.list_memberships as m on m.lead_id = d.lead_id and m.user_id = d.user_id
      join public.lists as l on l.id = m.list_id
      where d.id = ${deliveryId}
        and m.list_id = ${listId}
    ),
    left_now as (
      update public.list_memberships as m
      set unsubscribed_at = now()
      from member
      where m.list_id = member.list_id
        and m.lead_id = member.lead_id
        and m.unsubscribed_at is null
    )
    select name from member`;
  return row?.name;
}
