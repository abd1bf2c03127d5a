// track: the public end of the links in a sent email. No login: every request carries a
// token signed with BEACON_TRACKING_SECRET (see _shared/email/tokens.ts) naming the delivery;
// a token that does not verify is refused and nothing is recorded.
//
//   GET  /functions/v1/track/open/{token}             → 200 a 1×1 transparent GIF
//   GET  /functions/v1/track/click/{token}?u=<url>    → 302 to <url>, only if the token was
//                                                       signed for that very URL (else 404)
//   GET  /functions/v1/track/unsubscribe/{token}      → a page with an Unsubscribe button
//   POST /functions/v1/track/unsubscribe/{token}      → RFC 8058 one-click (body
//        List-Unsubscribe=One-Click, as mail providers and the page's button send it):
//        the address joins the sender's suppression list; a short confirmation page.
//        With list=<id> (the page's "Leave <list>" buttons), the recipient leaves that
//        subscription list only and stays subscribed to the rest.
//
// An unsubscribe is never lost: the suppression is written before its side effects
// (analytics, scoring, workflows), which cannot undo it (private.record_email_event), and the
// links of a campaign deleted after sending keep working for 60 days (its unsubscribe keys).
//
// Opens and clicks are recorded as they come, flagged when a machine made them (see
// _shared/email/machine.ts); a delivery's opens (and its clicks) write one analytics row an
// hour, repeats only raise its count. A GET of the unsubscribe link changes nothing: scanners follow
// links, people press the button (or their mail app posts the one-click request).
import type { Context } from "hono";
import { z } from "zod";
import { asService } from "../_shared/db.ts";
import { requestClient } from "../_shared/email/client.ts";
import { deliveryTimes, recordEmailEvent } from "../_shared/email/events.ts";
import { escapeHtml } from "../_shared/email/html.ts";
import { classify } from "../_shared/email/machine.ts";
import { parseMailbox } from "../_shared/email/render.ts";
import { readTrackingSettings, type TrackingSettings } from "../_shared/email/settings.ts";
import { type TokenKind, verifyToken } from "../_shared/email/tokens.ts";
import { readEnv } from "../_shared/env.ts";
import { createApp, HttpError, readParams, readQuery } from "../_shared/http.ts";
import { rateLimit, readRateLimitSettings } from "../_shared/rate_limit.ts";
import { leaveList, listsOf, type Recipient, recipientOf } from "./queries.ts";

/** A transparent 1×1 GIF (42 bytes). */
const PIXEL = Uint8Array.from(
  atob("R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7"),
  (c) => c.charCodeAt(0),
);

const NO_STORE = "no-store, no-cache, must-revalidate, private";

const Params = z.object({
  token: z.string().regex(
    /^[A-Za-z0-9_-]{1,64}\.[A-Za-z0-9_-]{1,64}$/,
    "is not a tracking token",
  ),
});
const ClickQuery = z.object({
  u: z.url({
    protocol: /^https?$/,
    error: "must be the http(s) link the email contained",
  }),
});
/** RFC 8058: the one-click POST's body; `list` leaves one subscription list only. */
const OneClick = z.object({
  body: z.object({
    "List-Unsubscribe": z.literal("One-Click", {
      error: 'must be "One-Click" (RFC 8058 one-click unsubscribe)',
    }),
    list: z.uuid({ error: "must be the id of a list on the page" }).optional(),
  }),
});

const invalidLink = () =>
  new HttpError(
    404,
    "not_found",
    "This link is not valid: it was changed, or it is not one of ours.",
  );

function page(title: string, body: string): string {
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width">
<title>${escapeHtml(title)}</title>
<style>body{font:16px/1.5 system-ui,sans-serif;max-width:32rem;margin:4rem auto;padding:0 1rem;color:#111}
button{font:inherit;padding:.5rem 1.25rem;border-radius:.375rem;border:1px solid #111;background:#111;color:#fff;cursor:pointer}</style>
</head><body><h1>${escapeHtml(title)}</h1>
${body}
</body></html>`;
}

function html(c: Context, status: 200 | 404, markup: string) {
  c.header("cache-control", NO_STORE);
  c.header(
    "content-security-policy",
    "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'",
  );
  c.header("referrer-policy", "no-referrer");
  return c.html(markup, status);
}

/**
 * The track app; `defaultSender` names the sender on its pages when a campaign has no
 * from_name or from_email (BEACON_EMAIL_FROM's name, as the message showed it).
 */
export function createTrackApp(
  tracking: TrackingSettings,
  defaultSender = "the sender",
) {
  const app = createApp("track");
  // Per client address and per token, before anything else: see _shared/rate_limit.ts.
  // Not the one-click unsubscribe POST: it must answer 200 whenever its token is valid (a
  // mail provider may press many recipients' buttons from one address), an invalid token
  // is refused by its signature without a query, and a repeat changes nothing.
  const limits = readRateLimitSettings("track", { perIp: 300, perToken: 60 });
  const limit = rateLimit(limits, { token: (c) => c.req.param("token") });
  app.use(
    "/:kind/:token",
    (c, next) =>
      c.req.method === "POST" && c.req.param("kind") === "unsubscribe" ? next() : limit(c, next),
  );

  function deliveryOf(c: Context, kind: TokenKind, url = ""): string | null {
    const { token } = readParams(c, Params);
    return verifyToken(tracking.key, kind, token, url);
  }

  /** Records an open or click, flagged when a machine made it. */
  async function interaction(
    c: Context,
    kind: "open" | "click",
    deliveryId: string,
    url?: string,
  ) {
    const client = requestClient(c.req.raw.headers, limits.ipHeader);
    const at = new Date();
    await asService(async (tx) => {
      const times = await deliveryTimes(tx, deliveryId);
      if (!times) return;
      const verdict = classify({
        kind,
        at,
        userAgent: client.userAgent,
        ip: client.ip,
        method: c.req.method,
        sentAt: times.sent_at,
        deliveredAt: times.delivered_at,
      });
      await recordEmailEvent(tx, {
        kind: kind === "open" ? "opened" : "clicked",
        deliveryId,
        occurredAt: at,
        isMachine: verdict.machine,
        details: {
          user_agent: client.userAgent,
          ip: client.ip,
          url,
          machine_reason: verdict.reason,
        },
      });
    });
  }

  app.get("/open/:token", async (c) => {
    const deliveryId = deliveryOf(c, "open");
    if (!deliveryId) throw invalidLink();
    try {
      await interaction(c, "open", deliveryId);
    } catch (err) {
      // The reader's mail app still gets its image; the open is lost, and logged.
      console.error(
        `[track] open of delivery ${deliveryId} not recorded:`,
        err,
      );
    }
    return c.body(PIXEL, 200, {
      "content-type": "image/gif",
      "cache-control": NO_STORE,
    });
  });

  app.get("/click/:token", async (c) => {
    const { u } = readQuery(c, ClickQuery);
    const deliveryId = deliveryOf(c, "click", u);
    if (!deliveryId) throw invalidLink();
    try {
      await interaction(c, "click", deliveryId, u);
    } catch (err) {
      // The reader still gets where the link goes; the click is lost, and logged.
      console.error(
        `[track] click on delivery ${deliveryId} not recorded:`,
        err,
      );
    }
    c.header("cache-control", NO_STORE);
    c.header("referrer-policy", "no-referrer");
    return c.redirect(u, 302);
  });

  /** Whom an unsubscribe link belongs to (see recipientOf). */
  const recipientOfDelivery = (
    deliveryId: string,
  ): Promise<Recipient | undefined> =>
    asService((tx) => recipientOf(tx, deliveryId, defaultSender));

  const notFoundPage = (c: Context) =>
    html(
      c,
      404,
      page(
        "This link is not valid",
        "<p>The unsubscribe link was changed or has expired. Use the link in the latest email " +
          "you received, or reply to the sender.</p>",
      ),
    );

  app.get("/unsubscribe/:token", async (c) => {
    const deliveryId = deliveryOf(c, "unsubscribe");
    const recipient = deliveryId ? await recipientOfDelivery(deliveryId) : undefined;
    if (!deliveryId || !recipient) return notFoundPage(c);
    const lists = await asService((tx) => listsOf(tx, deliveryId));
    // One button per list the recipient is on (leaves that list only), then the one for all.
    const leaveOne = lists.map((l) =>
      `<p><button type="submit" name="list" value="${escapeHtml(l.id)}">Leave ${
        escapeHtml(l.name)
      }</button></p>\n`
    ).join("");
    return html(
      c,
      200,
      page(
        "Unsubscribe",
        `<p>Stop emails from ${escapeHtml(recipient.sender)} to <strong>${
          escapeHtml(recipient.email)
        }</strong>?</p>
<form method="post"><input type="hidden" name="List-Unsubscribe" value="One-Click">
${leaveOne}<button type="submit">Unsubscribe${
          lists.length ? " from everything" : ""
        }</button></form>`,
      ),
    );
  });

  app.post("/unsubscribe/:token", async (c) => {
    const deliveryId = deliveryOf(c, "unsubscribe");
    const recipient = deliveryId ? await recipientOfDelivery(deliveryId) : undefined;
    if (!deliveryId || !recipient) return notFoundPage(c);
    let form: Record<string, unknown>;
    try {
      form = await c.req.parseBody();
    } catch {
      form = {};
    }
    const { body } = OneClick.parse({ body: form });
    if (body.list) {
      const listId = body.list;
      const name = await asService((tx) => leaveList(tx, deliveryId, listId));
      if (name === undefined) return notFoundPage(c);
      return html(
        c,
        200,
        page(
          "You left the list",
          `<p><strong>${escapeHtml(recipient.email)}</strong> will not receive ${
            escapeHtml(name)
          } emails from ${escapeHtml(recipient.sender)} any more.</p>`,
        ),
      );
    }
    const client = requestClient(c.req.raw.headers, limits.ipHeader);
    await asService((tx) =>
      recordEmailEvent(tx, {
        kind: "unsubscribed",
        deliveryId,
        occurredAt: new Date(),
        details: { user_agent: client.userAgent, ip: client.ip },
      })
    );
    return html(
      c,
      200,
      page(
        "You are unsubscribed",
        `<p><strong>${escapeHtml(recipient.email)}</strong> will not receive emails from ${
          escapeHtml(recipient.sender)
        } any more.</p>`,
      ),
    );
  });

  return app;
}

const { BEACON_EMAIL_FROM } = readEnv({
  BEACON_EMAIL_FROM: z.string().optional(),
});
const defaultFrom = BEACON_EMAIL_FROM ? parseMailbox(BEACON_EMAIL_FROM) : undefined;

export const app = createTrackApp(
  readTrackingSettings(),
  defaultFrom?.name ?? defaultFrom?.address,
);
