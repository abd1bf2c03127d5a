// Resend's webhook events (the `email.*` ones Beacon acts on) and what each means for a
// delivery. Payload: {"type", "created_at", "data": {"email_id", "to", "tags", ...}} with
// data.bounce {"type": "Permanent"|"Transient"|"Undetermined", "subType", "message"} and
// data.click {"link", "userAgent", "ipAddress", "timestamp"}.
import { z } from "zod";
import { validIp } from "../_shared/email/client.ts";
import type { EmailEventKind } from "../_shared/email/events.ts";

const Timestamp = z.iso.datetime({
  offset: true,
  error: "must be an ISO 8601 timestamp",
});

/** Tags as Resend reports them ({name: value}); older payloads used [{name, value}]. */
const Tags = z.union([
  z.record(z.string(), z.string()),
  z.array(z.object({ name: z.string(), value: z.string() })).transform((tags) =>
    Object.fromEntries(tags.map((tag) => [tag.name, tag.value]))
  ),
]);

export const ResendEvent = z.object({
  type: z.string().min(1),
  created_at: Timestamp,
  data: z.looseObject({
    email_id: z.string().min(1).max(200).optional(),
    tags: Tags.optional(),
    bounce: z.looseObject({
      type: z.string(),
      subType: z.string().optional(),
      message: z.string().optional(),
    }).optional(),
    click: z.looseObject({
      link: z.string(),
      userAgent: z.string().optional(),
      ipAddress: z.string().optional(),
      timestamp: Timestamp.optional(),
    }).optional(),
  }),
});
export type ResendEvent = z.output<typeof ResendEvent>;

/** What a Resend event means for the delivery, or null for events Beacon does not track. */
export type Meaning = {
  kind: EmailEventKind;
  occurredAt: Date;
  details: Record<string, unknown>;
  /** For telling machines from people (opens and clicks). */
  userAgent?: string;
  ip?: string;
};

export function meaningOf(event: ResendEvent): Meaning | null {
  const at = new Date(event.created_at);
  const { bounce, click } = event.data;
  switch (event.type) {
    case "email.delivered":
      return { kind: "delivered", occurredAt: at, details: {} };
    case "email.delivery_delayed":
      return { kind: "delivery_delayed", occurredAt: at, details: {} };
    case "email.bounced":
      return {
        kind: "bounced",
        occurredAt: at,
        details: {
          // Only a permanent bounce means the address is dead; transient and undetermined
          // ones (full mailbox, greylisting) may pass next time.
          bounce_type: bounce?.type === "Permanent" ? "hard" : "soft",
          bounce_subtype: bounce?.subType,
          message: bounce?.message,
        },
      };
    // Resend did not send: the address is on its suppression list (an earlier hard bounce
    // or complaint): as good as a hard bounce.
    case "email.suppressed":
      return {
        kind: "bounced",
        occurredAt: at,
        details: {
          bounce_type: "hard",
          message: "suppressed by Resend (earlier bounce or complaint)",
        },
      };
    case "email.complained":
      return { kind: "complained", occurredAt: at, details: {} };
    case "email.opened":
      return { kind: "opened", occurredAt: at, details: {} };
    case "email.clicked": {
      const ip = validIp(click?.ipAddress);
      return {
        kind: "clicked",
        occurredAt: click?.timestamp ? new Date(click.timestamp) : at,
        details: { url: click?.link, user_agent: click?.userAgent, ip },
        userAgent: click?.userAgent,
        ip,
      };
    }
    default:
      return null;
  }
}
