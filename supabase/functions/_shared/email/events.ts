// What happened to a sent message, recorded through private.record_email_event (idempotent
// per fact: the first open stamps opened_at, a second does not count twice; hard bounces,
// complaints and unsubscribes add the address to the owner's suppression list; opens, clicks
// and unsubscribes also write analytics_events). Shared by track (opens, clicks,
// unsubscribes seen by us) and webhooks (what Resend reports).
import type { Tx } from "../db.ts";

export type EmailEventKind =
  | "delivered"
  | "delivery_delayed"
  | "bounced"
  | "complained"
  | "opened"
  | "clicked"
  | "unsubscribed";

export type EmailEvent = {
  kind: EmailEventKind;
  deliveryId: string;
  occurredAt: Date;
  isMachine?: boolean;
  /** user_agent, ip, url, bounce_type ('hard' | 'soft'), machine_reason... */
  details?: Record<string, unknown>;
};

/** When the delivery was sent and delivered, for telling machines from people. */
export type DeliveryTimes = { sent_at: Date | null; delivered_at: Date | null };

export async function deliveryTimes(
  tx: Tx,
  deliveryId: string,
): Promise<DeliveryTimes | undefined> {
  const [row] = await tx<DeliveryTimes[]>`
    select sent_at, delivered_at from public.email_deliveries where id = ${deliveryId}`;
  return row;
}

export async function recordEmailEvent(
  tx: Tx,
  event: EmailEvent,
): Promise<void> {
  const details = Object.fromEntries(
    Object.entries(event.details ?? {}).filter(([, value]) =>
      value !== undefined && value !== null
    ),
  );
  await tx`select private.record_email_event(
    ${event.kind}, ${event.deliveryId}::uuid, ${event.occurredAt}, ${event.isMachine ?? false},
    ${tx.json(details as Record<string, string | number | boolean>)})`;
}
