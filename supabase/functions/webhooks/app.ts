// webhooks: events from Resend about the messages Beacon sent.
//
//   POST /functions/v1/webhooks/resend   svix-id, svix-timestamp, svix-signature
//     → 200 {"recorded": kind, "delivery_id"} | {"ignored": why} | {"duplicate": true}
//     → 401 unsigned, forged (another secret, altered body) or stale (timestamp more than
//           5 minutes off); 400 a signed body that is not the event shape, naming the field
//   POST /functions/v1/webhooks/resend/{user id}   the same, for an owner who sends with their
//     own RESEND_API_KEY: their own Resend account posts here, signed with the secret they
//     stored as RESEND_WEBHOOK_SECRET (secrets function); only their deliveries are touched.
//
// The platform's endpoint (RESEND_WEBHOOK_SECRET in the environment) hears about mail sent
// with the platform's key; each owner's endpoint about mail sent with theirs, so their bounces
// and complaints suppress the address too. An event never reaches another owner's delivery.
//
// Signatures are checked by the `standardwebhooks` package (the scheme Svix signs Resend's
// webhooks with: HMAC-SHA256 over "<id>.<timestamp>.<body>" with the whsec_ secret,
// constant-time comparison, 5-minute tolerance). Svix delivers at least once and retries
// until it gets a 2xx: each svix-id is processed once (private.processed_webhooks, written
// in the same transaction as the event, so a failure leaves the id free for the retry).
import type { Context } from "hono";
import { Webhook, WebhookVerificationError } from "standardwebhooks";
import { z } from "zod";
import { asService, type Tx } from "../_shared/db.ts";
import { deliveryTimes, recordEmailEvent } from "../_shared/email/events.ts";
import { classify } from "../_shared/email/machine.ts";
import { readEnv } from "../_shared/env.ts";
import { readUserSecret } from "../_shared/secrets.ts";
import { createApp, HttpError } from "../_shared/http.ts";
import { rateLimit, readRateLimitSettings } from "../_shared/rate_limit.ts";
import { deliveryByProviderId, markProcessed, taggedDelivery } from "./queries.ts";
import { meaningOf, ResendEvent } from "./resend_events.ts";

const UUID = z.uuid();

/** The name an owner stores their Resend webhook signing secret under. */
export const OWNER_SECRET = "RESEND_WEBHOOK_SECRET";
const WHSEC = /^whsec_[A-Za-z0-9+/]+={0,2}$/;

const unauthorized = (message: string) => new HttpError(401, "unauthorized", message);

/** Why standardwebhooks refused a signature, in words a sender's operator can act on. */
function refusal(err: unknown): HttpError {
  const message = err instanceof Error ? err.message : "";
  if (/too old|too new/i.test(message)) {
    return unauthorized(
      "The signature's timestamp is more than 5 minutes from now: a stale or replayed delivery.",
    );
  }
  if (err instanceof WebhookVerificationError) {
    return unauthorized(
      "The signature does not match this endpoint's RESEND_WEBHOOK_SECRET.",
    );
  }
  return unauthorized("The signature could not be verified.");
}

/**
 * The delivery an event is about: our tag on the message, else Resend's email id; on an
 * owner's endpoint, only among that owner's deliveries.
 */
async function deliveryOf(
  tx: Tx,
  event: ResendEvent,
  owner: string | undefined,
): Promise<string | undefined> {
  const tagged = event.data.tags?.beacon_delivery;
  if (tagged && UUID.safeParse(tagged).success) {
    const id = await taggedDelivery(tx, tagged, owner);
    if (id) return id;
  }
  if (!event.data.email_id) return undefined;
  return await deliveryByProviderId(tx, event.data.email_id, owner);
}

/** The verifier of an owner's endpoint: their stored RESEND_WEBHOOK_SECRET. */
async function ownerVerifier(owner: string): Promise<Webhook> {
  const secret = await readUserSecret(owner, OWNER_SECRET);
  if (!secret || !WHSEC.test(secret)) {
    throw unauthorized(
      `This endpoint has no valid ${OWNER_SECRET}: store your Resend webhook's signing secret ` +
        `(whsec_...) with PUT /functions/v1/secrets/${OWNER_SECRET}.`,
    );
  }
  return new Webhook(secret);
}

export function createWebhooksApp(secret: string) {
  const platform = new Webhook(secret);
  const app = createApp("webhooks");
  // Per sending address and per delivery id (a replay), before anything else: Resend's
  // sender sends many events from few addresses, hence the high default.
  const limit = rateLimit(
    readRateLimitSettings("webhooks", { perIp: 6000, perToken: 10 }),
    {
      token: (c) => c.req.header("svix-id") ?? c.req.header("webhook-id"),
    },
  );
  app.use("/resend", limit);
  app.use("/resend/:owner", limit);

  app.post("/resend", (c) => receive(c, platform, undefined));

  app.post("/resend/:owner", async (c) => {
    const owner = c.req.param("owner");
    if (!UUID.safeParse(owner).success) {
      throw new HttpError(
        400,
        "invalid_request",
        "params.owner: must be a user id (uuid).",
      );
    }
    return receive(c, await ownerVerifier(owner), owner);
  });

  async function receive(
    c: Context,
    verifier: Webhook,
    owner: string | undefined,
  ) {
    const payload = await c.req.text();
    // Svix's names; the Standard Webhooks names are accepted too.
    const header = (name: string) =>
      c.req.header(`svix-${name}`) ?? c.req.header(`webhook-${name}`);
    const id = header("id");
    const timestamp = header("timestamp");
    const signature = header("signature");
    if (!id || !timestamp || !signature) {
      throw unauthorized(
        "The request is not signed: send svix-id, svix-timestamp and svix-signature.",
      );
    }
    try {
      verifier.verify(payload, {
        "webhook-id": id,
        "webhook-timestamp": timestamp,
        "webhook-signature": signature,
      }, { jsonParse: false });
    } catch (err) {
      throw refusal(err);
    }

    // An owner's ids are kept apart from the platform's and from other owners'.
    const maxId = owner ? 160 : 200;
    if (id.length > maxId) {
      throw new HttpError(
        400,
        "invalid_request",
        `svix-id must be at most ${maxId} characters.`,
      );
    }
    const processedId = owner ? `${owner}:${id}` : id;

    let json: unknown;
    try {
      json = JSON.parse(payload);
    } catch {
      throw new HttpError(
        400,
        "invalid_json",
        "The request body must be valid JSON.",
      );
    }
    // Parsed under `body` so a 400 names fields as `body.<path>`, like every other 400.
    const { body: event } = z.object({ body: ResendEvent }).parse({
      body: json,
    });

    const answer = await asService(async (tx) => {
      if (!(await markProcessed(tx, processedId))) return { duplicate: true };
      const meaning = meaningOf(event);
      if (!meaning) return { ignored: `${event.type} is not tracked` };
      const deliveryId = await deliveryOf(tx, event, owner);
      if (!deliveryId) return { ignored: "no delivery of ours has this email" };
      let isMachine = false;
      let reason: string | undefined;
      if (meaning.kind === "opened" || meaning.kind === "clicked") {
        const times = await deliveryTimes(tx, deliveryId);
        const verdict = classify({
          kind: meaning.kind === "opened" ? "open" : "click",
          at: meaning.occurredAt,
          userAgent: meaning.userAgent,
          ip: meaning.ip,
          sentAt: times?.sent_at,
          deliveredAt: times?.delivered_at,
        });
        isMachine = verdict.machine;
        reason = verdict.reason;
      }
      await recordEmailEvent(tx, {
        kind: meaning.kind,
        deliveryId,
        occurredAt: meaning.occurredAt,
        isMachine,
        details: {
          ...meaning.details,
          machine_reason: reason,
          resend_email_id: event.data.email_id,
        },
      });
      return { recorded: meaning.kind, delivery_id: deliveryId };
    });
    return c.json(answer);
  }

  return app;
}

const env = readEnv({
  RESEND_WEBHOOK_SECRET: z.string().regex(
    /^whsec_[A-Za-z0-9+/]+={0,2}$/,
    "must be the endpoint's signing secret from Resend (whsec_ followed by base64)",
  ),
});

export const app = createWebhooksApp(env.RESEND_WEBHOOK_SECRET);
