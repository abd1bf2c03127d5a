// forms: the public end of an owner's signup forms (public.forms). No login.
//
//   POST /functions/v1/forms/{form_id}
//     application/x-www-form-urlencoded or multipart/form-data (an HTML form): 303 to the
//       form's success_url (a short page when it has none);
//     application/json: 200 {"ok": true, "status": "subscribed" | "unconfirmed"}.
//
// The post carries `email`, the fields the form accepts (public.forms.fields; others are
// ignored), `consent` (a checked box: required when the form has a consent text), and, when the
// owner stored a TURNSTILE_SECRET_KEY secret, the Turnstile widget's `cf-turnstile-response`.
// A filled honeypot field `beacon_hp` (hidden from people, filled by bots) gets the answer of a
// success and changes nothing. Bad input answers 400 naming the field; a failed Turnstile check
// 403; unknown or inactive forms 404; requests per client address and per form are limited
// (429 + Retry-After; BEACON_RATE_LIMIT_FORMS_PER_IP / _PER_TOKEN, see _shared/rate_limit.ts).
//
// Double opt-in (a form with double_opt_in): the post leaves a new lead unconfirmed and sends
// it the form's confirmation email through the email pipeline (suppressed addresses get
// nothing) with a signed link that expires after BEACON_CONFIRM_TTL_HOURS (168):
//
//   GET  /functions/v1/forms/confirm/{token}   a page with a Confirm button (changes nothing:
//                                              mail scanners follow links)
//   POST /functions/v1/forms/confirm/{token}   subscribes the lead, records the confirmation
//                                              as a consent; 303 to the form's confirm_url
//
// Posting the form again re-sends the email (at most one every 5 minutes per lead).
//
// Redirects go only to the URLs the owner stored on the form, and, when
// BEACON_FORMS_REDIRECT_ALLOWLIST is set, only to those under it (as for OAuth redirects,
// _shared/redirects.ts); a form whose URL is outside it answers with the page instead.
import type { Context } from "hono";
import { z } from "zod";
import { asService } from "../_shared/db.ts";
import { requestClient } from "../_shared/email/client.ts";
import { signConfirmToken, verifyConfirmToken } from "../_shared/email/confirm_tokens.ts";
import { escapeHtml } from "../_shared/email/html.ts";
import { readTrackingSettings } from "../_shared/email/settings.ts";
import type { TrackingKey } from "../_shared/email/tokens.ts";
import { readEnv } from "../_shared/env.ts";
import { createApp, HttpError, readParams } from "../_shared/http.ts";
import { TURNSTILE_URL, verifyTurnstile } from "../_shared/providers/turnstile.ts";
import { rateLimit, readRateLimitSettings } from "../_shared/rate_limit.ts";
import { allowedRedirect, parseAllowlist, type RedirectRule } from "../_shared/redirects.ts";
import { readUserSecret } from "../_shared/secrets.ts";
import { activeForm, confirmLead, type Form, sendConfirmation, submitForm } from "./queries.ts";

export const HONEYPOT = "beacon_hp";
export const TURNSTILE_FIELD = "cf-turnstile-response";
export const TURNSTILE_SECRET = "TURNSTILE_SECRET_KEY";
const LEAD_COLUMNS = ["first_name", "last_name", "company", "phone"] as const;

export type FormsSettings = {
  /** Where this function answers, e.g. https://<ref>.supabase.co/functions/v1/forms. */
  baseUrl: string;
  /** Signs confirm links (BEACON_TRACKING_SECRET, as for tracking links). */
  key: TrackingKey;
  confirmTtlHours: number;
  turnstileUrl: string;
  /** Undefined: any URL the owner stored (the database checks its shape). */
  redirectAllowlist?: RedirectRule[];
};

export function readFormsSettings(
  source: Record<string, string> = Deno.env.toObject(),
): FormsSettings {
  const env = readEnv({
    BEACON_TURNSTILE_URL: z.url().default(TURNSTILE_URL),
    BEACON_FORMS_REDIRECT_ALLOWLIST: z.string().optional(),
    BEACON_FORMS_URL: z.url({ protocol: /^https?$/ }).optional(),
    BEACON_CONFIRM_TTL_HOURS: z.coerce.number().int().min(1).max(24 * 90).default(168),
    SUPABASE_URL: z.url({ protocol: /^https?$/ }).default("http://127.0.0.1:54321"),
  }, source);
  return {
    baseUrl: (env.BEACON_FORMS_URL ?? `${env.SUPABASE_URL.replace(/\/+$/, "")}/functions/v1/forms`)
      .replace(/\/+$/, ""),
    key: readTrackingSettings(source).key,
    confirmTtlHours: env.BEACON_CONFIRM_TTL_HOURS,
    turnstileUrl: env.BEACON_TURNSTILE_URL.replace(/\/$/, ""),
    redirectAllowlist: env.BEACON_FORMS_REDIRECT_ALLOWLIST === undefined
      ? undefined
      : parseAllowlist(env.BEACON_FORMS_REDIRECT_ALLOWLIST),
  };
}

const Params = z.object({ form_id: z.uuid({ error: "is not a form id" }) });
const ConfirmParams = z.object({
  token: z.string().regex(/^[A-Za-z0-9_-]{1,64}\.[A-Za-z0-9_-]{1,64}$/, "is not a confirm token"),
});

const EMAIL = /^[^@\s]+@[^@\s]+\.[^@\s]+$/;
const name = z.string().trim().min(1).max(200, "must be at most 200 characters");
const FIELD_SCHEMAS: Record<string, z.ZodType<string>> = {
  first_name: name,
  last_name: name,
  company: name,
  phone: z.string().trim().regex(/^\+?[0-9 ().-]{3,32}$/, "must be a phone number"),
};
const custom = z.string().max(1000, "must be at most 1000 characters");

const Post = z.object({
  email: z.string({ error: "is required" }).trim().max(320, "must be at most 320 characters")
    .regex(EMAIL, "must be an email address"),
  [TURNSTILE_FIELD]: z.string().max(2048).optional(),
  [HONEYPOT]: z.string().optional(),
}).catchall(z.unknown());

const CONSENTED = new Set(["on", "true", "yes", "1"]);

function page(title: string, text: string): string {
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width">
<title>${escapeHtml(title)}</title></head>
<body><h1>${escapeHtml(title)}</h1><p>${escapeHtml(text)}</p></body></html>`;
}

/** The body as flat string fields, and whether it came from an HTML form. */
async function readPost(c: Context): Promise<{ html: boolean; body: Record<string, unknown> }> {
  const type = c.req.header("content-type")?.split(";")[0].trim().toLowerCase() ?? "";
  if (type === "application/json") {
    try {
      const body = await c.req.json();
      if (body && typeof body === "object" && !Array.isArray(body)) return { html: false, body };
    } catch {
      // Answered below.
    }
    throw new HttpError(400, "invalid_json", "The request body must be a JSON object.");
  }
  if (type === "application/x-www-form-urlencoded" || type === "multipart/form-data") {
    return { html: true, body: await c.req.parseBody() };
  }
  throw new HttpError(
    415,
    "unsupported_media_type",
    "Post the form as application/x-www-form-urlencoded, multipart/form-data or application/json.",
  );
}

/** The form's own fields (empty ones left out) and its consent box, as a schema. */
function formSchema(form: Form) {
  const blankIsAbsent = (value: unknown) => value === "" ? undefined : value;
  const fields = Object.fromEntries(
    form.fields.map((field) => [
      field,
      z.preprocess(blankIsAbsent, (FIELD_SCHEMAS[field] ?? custom).optional()),
    ]),
  );
  const consent = form.consent_text
    ? z.preprocess(
      (value) => String(value ?? "").toLowerCase(),
      z.string().refine(
        (value) => CONSENTED.has(value),
        "must be checked: the form asks for your consent",
      ),
    )
    : z.unknown().optional();
  return z.object({ ...fields, consent });
}

/** The accepted fields, split into lead columns and custom fields; throws naming a bad one. */
function acceptedFields(form: Form, body: Record<string, unknown>) {
  const parsed = formSchema(form).parse(body) as Record<string, unknown>;
  const leadFields: Record<string, string> = {};
  const customFields: Record<string, string> = {};
  for (const field of form.fields) {
    const value = parsed[field];
    if (typeof value !== "string") continue;
    if ((LEAD_COLUMNS as readonly string[]).includes(field)) leadFields[field] = value;
    else customFields[field] = value;
  }
  return { leadFields, customFields };
}

export function createFormsApp(settings: FormsSettings) {
  const app = createApp("forms");
  const limits = readRateLimitSettings("forms", { perIp: 20, perToken: 600 });
  app.use(
    "/:form_id",
    rateLimit(limits, {
      token: (c) => c.req.param("form_id"),
    }),
  );

  app.use(
    "/confirm/:token",
    rateLimit(readRateLimitSettings("forms_confirm", { perIp: 60, perToken: 20 }), {
      token: (c) => c.req.param("token"),
    }),
  );

  /** A URL the owner stored on form `formId`, when the allow-list (if any) allows it. */
  function allowed(formId: string, column: string, stored: string | null): string | undefined {
    if (!stored) return undefined;
    if (!settings.redirectAllowlist) return stored;
    const url = allowedRedirect(settings.redirectAllowlist, stored);
    if (!url) {
      console.warn(`[forms] form ${formId}: ${column} is outside BEACON_FORMS_REDIRECT_ALLOWLIST`);
    }
    return url?.href;
  }

  /** The signed confirm link of a lead's double opt-in on a form. */
  function confirmUrl(formId: string, leadId: string): string {
    const expiresAt = new Date(Date.now() + settings.confirmTtlHours * 3600_000);
    const token = signConfirmToken(settings.key, { formId, leadId, expiresAt });
    return `${settings.baseUrl}/confirm/${token}`;
  }

  app.post("/:form_id", async (c) => {
    const { form_id } = readParams(c, Params);
    const { html, body } = await readPost(c);
    const form = await asService((tx) => activeForm(tx, form_id));
    if (!form) throw new HttpError(404, "not_found", "This form does not exist or is closed.");
    const post = Post.parse(body);
    const status = form.double_opt_in ? "unconfirmed" : "subscribed";
    const answer = () => {
      if (!html) return c.json({ ok: true, status });
      const target = allowed(form.id, "success_url", form.success_url);
      if (target) return c.redirect(target, 303);
      return c.html(
        page(
          "Thank you",
          status === "unconfirmed"
            ? "Check your inbox: follow the link in our email to confirm your subscription."
            : "You are subscribed.",
        ),
      );
    };
    // A bot filled the hidden field: it sees a success, nothing is stored.
    if (post[HONEYPOT]) return answer();

    const fields = acceptedFields(form, body);
    const client = requestClient(c.req.raw.headers, limits.ipHeader);
    const secret = await readUserSecret(form.user_id, TURNSTILE_SECRET);
    if (secret !== null) {
      const token = post[TURNSTILE_FIELD];
      if (!token) {
        throw new HttpError(
          403,
          "turnstile_required",
          "Complete the anti-spam check and post again.",
        );
      }
      const verdict = await verifyTurnstile(settings.turnstileUrl, secret, token, client.ip);
      if (!verdict.success) {
        throw new HttpError(
          403,
          "turnstile_failed",
          `The anti-spam check failed (${verdict.errorCodes.join(", ") || "no reason given"}); ` +
            "reload the page and post again.",
        );
      }
    }
    await asService(async (tx) => {
      const submitted = await submitForm(tx, form.id, {
        email: post.email,
        ...fields,
        ip: client.ip,
        userAgent: client.userAgent,
      });
      if (submitted.needs_confirmation) {
        await sendConfirmation(
          tx,
          form.id,
          submitted.lead_id,
          confirmUrl(form.id, submitted.lead_id),
        );
      }
    });
    return answer();
  });

  /** The confirmation a token carries; an invalid or expired one answers its page. */
  function confirmationOf(c: Context) {
    const { token } = readParams(c, ConfirmParams);
    const confirmation = verifyConfirmToken(settings.key, token);
    if (confirmation === "expired") {
      throw new HttpError(
        410,
        "expired",
        "This confirmation link has expired: sign up again to get a new one.",
      );
    }
    if (!confirmation) {
      throw new HttpError(404, "not_found", "This confirmation link is not valid.");
    }
    return confirmation;
  }

  app.get("/confirm/:token", (c) => {
    confirmationOf(c);
    c.header("cache-control", "no-store");
    c.header("referrer-policy", "no-referrer");
    return c.html(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width">
<title>Confirm your subscription</title></head>
<body><h1>Confirm your subscription</h1>
<form method="post"><button type="submit">Confirm</button></form></body></html>`);
  });

  app.post("/confirm/:token", async (c) => {
    const { formId, leadId } = confirmationOf(c);
    const client = requestClient(c.req.raw.headers, limits.ipHeader);
    const result = await asService((tx) =>
      confirmLead(tx, formId, leadId, client.ip, client.userAgent)
    );
    if (result.status === null) {
      throw new HttpError(404, "not_found", "This subscription no longer exists.");
    }
    if (result.status !== "subscribed") {
      throw new HttpError(
        409,
        "unsubscribed",
        "This address has unsubscribed; sign up again to subscribe.",
      );
    }
    const target = allowed(formId, "confirm_url", result.confirm_url);
    if (target) return c.redirect(target, 303);
    return c.html(page("You are subscribed", "Thank you for confirming your subscription."));
  });

  return app;
}

export const app = createFormsApp(readFormsSettings());
