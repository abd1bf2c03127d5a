// Where a user's messages go: Resend with the user's own RESEND_API_KEY (from user_secrets),
// else Resend with the platform's key, else the local outbox (.eml files; never the network).
// Each transport turns one chunk of rendered messages into one result per delivery.
import { outboxMessageId, writeToOutbox } from "../_shared/email/outbox.ts";
import type { RenderedMessage } from "../_shared/email/render.ts";
import type { SenderSettings } from "../_shared/email/settings.ts";
import { createResendClient, type ResendEmail } from "../_shared/providers/resend.ts";
import { cachedLookup } from "../_shared/memo.ts";
import { readUserSecret } from "../_shared/secrets.ts";
import { type ClaimedRow, type DeliveryResult, verifiedDomains } from "./queries.ts";

export type Transport =
  | {
    kind: "resend";
    apiKey: string;
    baseUrl: string;
    /** With the platform's key: the owner's verified sending domains (their own key: none). */
    senderDomains?: ReadonlySet<string>;
  }
  | { kind: "outbox"; dir: string };

/** A chunk's outcome: a result per delivery, or Resend's 429 (the dispatcher decides). */
export type ChunkOutcome =
  | { results: DeliveryResult[] }
  | { rateLimited: true; retryAfterSeconds: number; message: string };

/**
 * The user's transport, looked up once per run; a failed lookup (e.g. a secret that does not
 * decrypt) is asked again by the next chunk.
 */
export function transportResolver(sender: SenderSettings) {
  return cachedLookup(async (userId): Promise<Transport> => {
    const own = await readUserSecret(userId, "RESEND_API_KEY");
    if (own) return { kind: "resend", apiKey: own, baseUrl: sender.resendApiUrl };
    if (sender.resendApiKey) {
      return {
        kind: "resend",
        apiKey: sender.resendApiKey,
        baseUrl: sender.resendApiUrl,
        senderDomains: await verifiedDomains(userId),
      };
    }
    return { kind: "outbox", dir: sender.outboxDir };
  });
}

/**
 * Why the platform's key may not send a chunk with this sender, or undefined. The sender was
 * checked when the campaign was scheduled; this catches an owner who has since removed their
 * own RESEND_API_KEY or the domain: the platform never sends as a domain nobody verified.
 */
export function senderRefusal(transport: Transport, row: ClaimedRow): string | undefined {
  if (transport.kind !== "resend" || !transport.senderDomains) return undefined;
  for (const [field, address] of [["from_email", row.from_email], ["reply_to", row.reply_to]]) {
    const domain = address?.split("@")[1]?.toLowerCase();
    if (domain !== undefined && !transport.senderDomains.has(domain)) {
      return `${field} ${address} is not on a sending domain the owner has verified: verify ` +
        "the domain or store your own RESEND_API_KEY, then send it in a new campaign";
    }
  }
  return undefined;
}

/** The Resend API's shape of a rendered message. */
export function toResendEmail(message: RenderedMessage): ResendEmail {
  return {
    from: message.from,
    to: [message.to],
    subject: message.subject,
    html: message.html,
    text: message.text,
    ...(message.replyTo ? { reply_to: message.replyTo } : {}),
    headers: message.headers,
    tags: [
      { name: "beacon_delivery", value: message.deliveryId },
      { name: "beacon_campaign", value: message.campaignId },
    ],
  };
}

const retryAll = (
  messages: RenderedMessage[],
  error: string,
): ChunkOutcome => ({
  results: messages.map((m) => ({
    delivery_id: m.deliveryId,
    outcome: "retry",
    error,
  })),
});

/** Sends one chunk (one Resend batch call under the chunk's key, or one file per message). */
export async function deliverChunk(
  transport: Transport,
  messages: RenderedMessage[],
  chunkKey: string,
): Promise<ChunkOutcome> {
  if (transport.kind === "outbox") {
    try {
      for (const message of messages) {
        await writeToOutbox(transport.dir, message);
      }
    } catch (err) {
      return retryAll(
        messages,
        `the outbox ${transport.dir} is not writable: ${(err as Error).message}`,
      );
    }
    return {
      results: messages.map((m) => ({
        delivery_id: m.deliveryId,
        outcome: "sent",
        provider_message_id: outboxMessageId(m.deliveryId),
      })),
    };
  }

  const client = createResendClient({
    apiKey: transport.apiKey,
    baseUrl: transport.baseUrl,
  });
  const answer = await client.sendBatch(messages.map(toResendEmail), chunkKey);
  switch (answer.kind) {
    case "accepted":
      return {
        results: messages.map((m, index) => {
          const result = answer.results[index];
          return "id" in result
            ? {
              delivery_id: m.deliveryId,
              outcome: "sent",
              provider_message_id: result.id,
            }
            : {
              delivery_id: m.deliveryId,
              outcome: "failed",
              error: `Resend refused it: ${result.error}`,
            };
        }),
      };
    case "rejected":
      return {
        results: messages.map((m) => ({
          delivery_id: m.deliveryId,
          outcome: "failed",
          error: answer.message,
        })),
      };
    case "already_sent":
      // Sent by an earlier attempt under this chunk's key; Resend's ids for it are lost, and
      // provider events find the delivery by its beacon_delivery tag.
      return {
        results: messages.map((m) => ({
          delivery_id: m.deliveryId,
          outcome: "sent",
          provider_message_id: null,
        })),
      };
    case "rate_limited":
      return {
        rateLimited: true,
        retryAfterSeconds: answer.retryAfterSeconds,
        message: answer.message,
      };
    case "unavailable":
      return retryAll(messages, answer.message);
  }
}
