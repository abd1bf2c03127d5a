// A fake Resend over real HTTP, speaking the API's shapes:
//   POST /emails         one email          → 200 {"id"}
//   POST /emails/batch   up to 100 emails   → 200 {"data": [{"id"}...]} (strict, the default:
//        any invalid email refuses the batch with 422) or, with `x-batch-validation:
//        permissive`, {"data": [...valid ones], "errors": [{"index", "message"}]}
//   Authorization: Bearer <key>   401 missing_api_key, 403 invalid_api_key
//   Idempotency-Key (1-256 chars, kept 24 h): the same key with the same body answers the
//        original response without sending again; with another body 409
//        invalid_idempotent_request; while the first is in flight 409
//        concurrent_idempotent_requests
//   Every answer carries ratelimit-limit / ratelimit-remaining / ratelimit-reset; over the
//        limit: 429 rate_limit_exceeded with retry-after.
//   Errors: {"statusCode", "name", "message"}.
//
// Tests script failures (`failNext`), read what was really sent (`sent`: one entry per email,
// never two for a replay), and make Resend's webhooks: events signed the way Svix signs them
// (svix-id, svix-timestamp, svix-signature: v1,<base64 HMAC-SHA256> with a whsec_ secret).
//
//   deno run --allow-net supabase/functions/_testing/fakes/resend.ts   (port BEACON_RESEND_FAKE_PORT)
import { Buffer } from "node:buffer";
import { Webhook } from "standardwebhooks";
import { json } from "./state.ts";

export type ResendFailure =
  /** 429 rate_limit_exceeded with retry-after (seconds, default 1). */
  | { kind: "rate_limited"; retryAfter?: number }
  /** 500 application_error (or another 5xx) before anything is sent. */
  | { kind: "server_error"; status?: number }
  /** 422 validation_error for the whole request. */
  | { kind: "validation_error"; message?: string }
  /** The emails are sent (and the key remembered), then the answer is lost: 500. */
  | { kind: "lost_response" }
  /** No answer for `ms` milliseconds (longer than the client waits), then a normal one. */
  | { kind: "hang"; ms: number };

export type Endpoint = "email" | "batch";

export type SentEmail = {
  id: string;
  endpoint: Endpoint;
  /** The API key it was sent with. */
  apiKey: string;
  idempotencyKey?: string;
  from: string;
  to: string[];
  subject: string;
  html?: string;
  text?: string;
  reply_to?: string | string[];
  headers: Record<string, string>;
  tags: Record<string, string>;
  created_at: string;
};

export type WebhookType =
  | "email.sent"
  | "email.delivered"
  | "email.delivery_delayed"
  | "email.bounced"
  | "email.complained"
  | "email.opened"
  | "email.clicked";

export type ResendFakeOptions = {
  port?: number;
  /** Keys accepted; default: any key that starts with `re_`. */
  apiKeys?: string[];
  /** Requests per second before 429; default: no limit. */
  rateLimit?: number;
  /** The webhook signing secret (`whsec_` + base64); default: a fresh random one. */
  webhookSecret?: string;
  /** Keep html/text of sent emails (tests read them; a benchmark does not need them). */
  keepBodies?: boolean;
  /** Added before every send answer. */
  latencyMs?: number;
};

type Stored = { hash: string; status: number; body: unknown } | {
  hash: string;
  pending: true;
};

const MAILBOX = /^(?:[^<>\r\n]*<[^<>\s@]+@[^<>\s@]+\.[^<>\s@]+>|[^<>\s@]+@[^<>\s@]+\.[^<>\s@]+)$/;
const TAG = /^[A-Za-z0-9_-]{1,256}$/;

const resendError = (
  status: number,
  name: string,
  message: string,
  headers: Record<string, string> = {},
) => json({ statusCode: status, name, message }, status, headers);

const randomId = (prefix: string) =>
  `${prefix}_${
    Buffer.from(crypto.getRandomValues(new Uint8Array(20))).toString(
      "base64url",
    ).replace(
      /[-_]/g,
      "",
    )
  }`;

/** Resend's wording for one invalid email, or undefined when it would be accepted. */
function invalidEmail(email: unknown, batch: boolean): string | undefined {
  if (typeof email !== "object" || email === null || Array.isArray(email)) {
    return "The email must be an object.";
  }
  const e = email as Record<string, unknown>;
  if (e.from === undefined) return "Missing `from` field.";
  if (typeof e.from !== "string" || !MAILBOX.test(e.from.trim())) {
    return "Invalid `from` field. The email address needs to follow the `email@example.com` or " +
      "`Name <email@example.com>` format.";
  }
  if (e.to === undefined) return "Missing `to` field.";
  const to = Array.isArray(e.to) ? e.to : [e.to];
  if (to.length === 0 || to.length > 50) {
    return "The `to` field must hold 1 to 50 addresses.";
  }
  for (const address of to) {
    if (typeof address !== "string" || !MAILBOX.test(address.trim())) {
      return "Invalid `to` field. The email address needs to follow the `email@example.com` or " +
        "`Name <email@example.com>` format.";
    }
  }
  if (typeof e.subject !== "string" || e.subject.trim() === "") {
    return "Missing `subject` field.";
  }
  if (
    typeof e.html !== "string" && typeof e.text !== "string" &&
    e.react === undefined
  ) {
    return "Missing `html` or `text` field.";
  }
  if (batch && (e.attachments !== undefined || e.scheduled_at !== undefined)) {
    return "The `attachments` and `scheduled_at` fields are not supported in batch emails.";
  }
  if (e.tags !== undefined) {
    const tags = Array.isArray(e.tags) ? e.tags : [];
    for (const tag of tags) {
      const { name, value } = (tag ?? {}) as {
        name?: unknown;
        value?: unknown;
      };
      if (
        typeof name !== "string" || !TAG.test(name) ||
        typeof value !== "string" || !TAG.test(value)
      ) {
        return "Tags should only contain ASCII letters, numbers, underscores, or dashes.";
      }
    }
  }
  return undefined;
}

async function sha256(text: string): Promise<string> {
  const digest = await crypto.subtle.digest(
    "SHA-256",
    new TextEncoder().encode(text),
  );
  return Buffer.from(digest).toString("hex");
}

export function startResendFake(options: ResendFakeOptions = {}) {
  const webhookSecret = options.webhookSecret ??
    `whsec_${Buffer.from(crypto.getRandomValues(new Uint8Array(24))).toString("base64")}`;
  const signer = new Webhook(webhookSecret);
  const keepBodies = options.keepBodies ?? true;
  const failures: Record<Endpoint, ResendFailure[]> = { email: [], batch: [] };
  const idempotency = new Map<string, Stored>();
  const window: number[] = [];
  /** Every email sent, in order; a replay adds nothing. */
  const sent: SentEmail[] = [];
  const byId = new Map<string, SentEmail>();
  /** Requests per endpoint, replays and failures included. */
  const requests: Record<Endpoint, number> = { email: 0, batch: 0 };
  let latencyMs = options.latencyMs ?? 0;

  function rateHeaders(): {
    headers: Record<string, string>;
    limited: boolean;
  } {
    const limit = options.rateLimit;
    if (!limit) {
      return {
        headers: {
          "ratelimit-limit": "1000",
          "ratelimit-remaining": "999",
          "ratelimit-reset": "1",
        },
        limited: false,
      };
    }
    const now = Date.now();
    while (window.length > 0 && window[0] <= now - 1000) window.shift();
    const limited = window.length >= limit;
    if (!limited) window.push(now);
    return {
      headers: {
        "ratelimit-limit": String(limit),
        "ratelimit-remaining": String(Math.max(0, limit - window.length)),
        "ratelimit-reset": "1",
      },
      limited,
    };
  }

  function keep(
    endpoint: Endpoint,
    apiKey: string,
    key: string | undefined,
    email: Record<string, unknown>,
  ) {
    const tags = Object.fromEntries(
      ((email.tags as { name: string; value: string }[] | undefined) ?? []).map(
        (t) => [
          t.name,
          t.value,
        ],
      ),
    );
    const record: SentEmail = {
      id: crypto.randomUUID(),
      endpoint,
      apiKey,
      idempotencyKey: key,
      from: email.from as string,
      to: (Array.isArray(email.to) ? email.to : [email.to]) as string[],
      subject: email.subject as string,
      html: keepBodies ? email.html as string | undefined : undefined,
      text: keepBodies ? email.text as string | undefined : undefined,
      reply_to: email.reply_to as string | string[] | undefined,
      headers: (email.headers as Record<string, string> | undefined) ?? {},
      tags,
      created_at: new Date().toISOString(),
    };
    sent.push(record);
    byId.set(record.id, record);
    return record;
  }

  /** Validates and "sends"; the answer Resend would give when nothing goes wrong. */
  function process(
    endpoint: Endpoint,
    apiKey: string,
    body: unknown,
    key: string | undefined,
    permissive: boolean,
  ) {
    if (endpoint === "email") {
      const problem = invalidEmail(body, false);
      if (problem) {
        return {
          status: 422,
          body: { statusCode: 422, name: "validation_error", message: problem },
        };
      }
      return {
        status: 200,
        body: {
          id: keep("email", apiKey, key, body as Record<string, unknown>).id,
        },
      };
    }
    if (!Array.isArray(body) || body.length === 0 || body.length > 100) {
      return {
        status: 422,
        body: {
          statusCode: 422,
          name: "validation_error",
          message: "The batch must be an array of 1 to 100 emails.",
        },
      };
    }
    const problems = body.map((email) => invalidEmail(email, true));
    if (!permissive) {
      const index = problems.findIndex((problem) => problem !== undefined);
      if (index >= 0) {
        return {
          status: 422,
          body: {
            statusCode: 422,
            name: "validation_error",
            message: `emails[${index}]: ${problems[index]}`,
          },
        };
      }
    }
    const data: { id: string }[] = [];
    const errors: { index: number; message: string }[] = [];
    body.forEach((email, index) => {
      const problem = problems[index];
      if (problem) errors.push({ index, message: problem });
      else {data.push({
          id: keep("batch", apiKey, key, email as Record<string, unknown>).id,
        });}
    });
    return { status: 200, body: permissive ? { data, errors } : { data } };
  }

  async function send(endpoint: Endpoint, request: Request): Promise<Response> {
    requests[endpoint]++;
    const rate = rateHeaders();
    const headers = rate.headers;
    const authorization = request.headers.get("authorization");
    const apiKey = /^Bearer\s+(\S+)$/i.exec(authorization ?? "")?.[1];
    if (!apiKey) {
      return resendError(
        401,
        "missing_api_key",
        "Missing API key in the authorization header.",
        headers,
      );
    }
    const known = options.apiKeys ? options.apiKeys.includes(apiKey) : apiKey.startsWith("re_");
    if (!known) {
      return resendError(403, "invalid_api_key", "API key is invalid", headers);
    }
    if (rate.limited) {
      return resendError(
        429,
        "rate_limit_exceeded",
        "Too many requests. You can only make 2 requests per second. See rate limit response " +
          "headers for more information. Or contact support to increase rate limit.",
        { ...headers, "retry-after": "1" },
      );
    }
    const text = await request.text();
    let body: unknown;
    try {
      body = JSON.parse(text);
    } catch {
      return resendError(
        422,
        "validation_error",
        "The request body is not valid JSON.",
        headers,
      );
    }
    const key = request.headers.get("idempotency-key") ?? undefined;
    const permissive = request.headers.get("x-batch-validation") === "permissive";
    const storeKey = key === undefined ? undefined : `${endpoint}:${key}`;
    const hash = await sha256(`${permissive}\n${text}`);
    if (storeKey !== undefined) {
      if (key!.length < 1 || key!.length > 256) {
        return resendError(
          400,
          "invalid_idempotency_key",
          "The key must be between 1-256 chars.",
          headers,
        );
      }
      const stored = idempotency.get(storeKey);
      if (stored && stored.hash !== hash) {
        return resendError(
          409,
          "invalid_idempotent_request",
          "Same idempotency key used with a different request payload.",
          headers,
        );
      }
      if (stored && "pending" in stored) {
        return resendError(
          409,
          "concurrent_idempotent_requests",
          "Same idempotency key used while original request is still in progress.",
          headers,
        );
      }
      if (stored) return json(stored.body, stored.status, headers);
      idempotency.set(storeKey, { hash, pending: true });
    }

    const failure = failures[endpoint].shift();
    const refuse = (response: Response) => {
      if (storeKey) idempotency.delete(storeKey);
      return response;
    };
    if (latencyMs > 0) {
      await new Promise((resolve) => setTimeout(resolve, latencyMs));
    }
    if (failure?.kind === "hang") {
      await new Promise((resolve) => setTimeout(resolve, failure.ms));
    }
    if (failure?.kind === "rate_limited") {
      const after = String(failure.retryAfter ?? 1);
      return refuse(resendError(
        429,
        "rate_limit_exceeded",
        "Too many requests. You can only make 2 requests per second.",
        {
          ...headers,
          "retry-after": after,
          "ratelimit-remaining": "0",
          "ratelimit-reset": after,
        },
      ));
    }
    if (failure?.kind === "server_error") {
      const status = failure.status ?? 500;
      return refuse(
        resendError(
          status,
          "application_error",
          "An unexpected error occurred.",
          headers,
        ),
      );
    }
    if (failure?.kind === "validation_error") {
      return refuse(resendError(
        422,
        "validation_error",
        failure.message ??
          "Invalid `to` field. The email address needs to follow the " +
            "`email@example.com` or `Name <email@example.com>` format.",
        headers,
      ));
    }

    const answer = process(endpoint, apiKey, body, key, permissive);
    if (storeKey) {
      // Only a success is remembered: a refused request may be corrected and sent again.
      if (answer.status === 200) idempotency.set(storeKey, { hash, ...answer });
      else idempotency.delete(storeKey);
    }
    if (failure?.kind === "lost_response") {
      return resendError(
        500,
        "application_error",
        "An unexpected error occurred.",
        headers,
      );
    }
    return json(answer.body, answer.status, headers);
  }

  const server = Deno.serve({
    hostname: "127.0.0.1",
    port: options.port ?? 0,
    onListen() {},
  }, (request) => {
    const path = new URL(request.url).pathname;
    if (request.method === "POST" && path === "/emails") {
      return send("email", request);
    }
    if (request.method === "POST" && path === "/emails/batch") {
      return send("batch", request);
    }
    return resendError(
      404,
      "not_found",
      "The requested endpoint does not exist.",
    );
  });
  const url = `http://127.0.0.1:${server.addr.port}`;

  /** Svix's three headers for `payload`; tests bend them to forge, age or replay. */
  function signatureHeaders(
    payload: string,
    sign: { id?: string; timestamp?: Date; secret?: string } = {},
  ): Record<string, string> {
    const id = sign.id ?? randomId("msg");
    const timestamp = sign.timestamp ?? new Date();
    const signature = (sign.secret ? new Webhook(sign.secret) : signer).sign(
      id,
      timestamp,
      payload,
    );
    return {
      "svix-id": id,
      "svix-timestamp": String(Math.floor(timestamp.getTime() / 1000)),
      "svix-signature": signature,
    };
  }

  /** The event Resend would post about a sent email. */
  function event(
    type: WebhookType,
    emailId: string,
    extra: {
      at?: Date;
      bounceType?: "Permanent" | "Transient";
      click?: { link: string; userAgent?: string; ipAddress?: string };
    } = {},
  ) {
    const email = byId.get(emailId);
    if (!email) throw new Error(`the fake sent no email ${emailId}`);
    const at = (extra.at ?? new Date()).toISOString();
    const data: Record<string, unknown> = {
      created_at: email.created_at,
      email_id: email.id,
      from: email.from,
      to: email.to,
      subject: email.subject,
      tags: email.tags,
    };
    if (type === "email.bounced") {
      data.bounce = extra.bounceType === "Transient"
        ? {
          type: "Transient",
          subType: "MailboxFull",
          message: "The recipient's mailbox is full.",
        }
        : {
          type: "Permanent",
          subType: "General",
          message: "The recipient's email provider sent a hard bounce message.",
        };
    }
    if (type === "email.clicked") {
      data.click = {
        ipAddress: extra.click?.ipAddress ?? "203.0.113.7",
        link: extra.click?.link ?? "https://example.com/",
        timestamp: at,
        userAgent: extra.click?.userAgent ??
          "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Safari/605.1.15",
      };
    }
    return { type, created_at: at, data };
  }

  /** Posts one signed event to `target`; returns the answer's status. */
  async function emit(
    target: string,
    payload: unknown,
    sign: { id?: string; timestamp?: Date; secret?: string } = {},
  ): Promise<Response> {
    const body = JSON.stringify(payload);
    return await fetch(target, {
      method: "POST",
      headers: {
        "content-type": "application/json",
        ...signatureHeaders(body, sign),
      },
      body,
    });
  }

  /**
   * What Resend reports after sending, for every email sent so far (or `emails`): email.sent,
   * then email.delivered, or email.bounced for addresses like bounced@… and email.complained
   * (after delivered) for complained@… (as Resend's test addresses behave). Returns how many
   * events the target accepted (2xx) and refused.
   */
  async function reportDeliveries(target: string, emails: SentEmail[] = sent) {
    let accepted = 0;
    let refused = 0;
    for (const email of emails) {
      const local = email.to[0].replace(/^.*</, "").split("@")[0].toLowerCase();
      const types: WebhookType[] = local.startsWith("bounced")
        ? ["email.sent", "email.bounced"]
        : local.startsWith("complained")
        ? ["email.sent", "email.delivered", "email.complained"]
        : ["email.sent", "email.delivered"];
      for (const type of types) {
        const response = await emit(target, event(type, email.id));
        await response.body?.cancel();
        if (response.ok) accepted++;
        else refused++;
      }
    }
    return { accepted, refused };
  }

  return {
    url,
    webhookSecret,
    sent,
    requests,
    /** The next `times` requests to `endpoint` fail as `failure`. */
    failNext(endpoint: Endpoint, failure: ResendFailure, times = 1) {
      failures[endpoint].push(...Array.from({ length: times }, () => failure));
    },
    setLatency(ms: number) {
      latencyMs = ms;
    },
    /** The emails sent to `address` (any case). */
    sentTo: (address: string) =>
      sent.filter((email) => email.to.some((to) => to.toLowerCase() === address.toLowerCase())),
    signatureHeaders,
    event,
    emit,
    reportDeliveries,
    close: () => server.shutdown(),
    finished: server.finished,
  };
}

export type ResendFake = ReturnType<typeof startResendFake>;

if (import.meta.main) {
  const fake = startResendFake({
    port: Number(Deno.env.get("BEACON_RESEND_FAKE_PORT") ?? "54330"),
  });
  console.error(
    `fake Resend on ${fake.url} (RESEND_API_URL=${fake.url}, any re_ key)`,
  );
  console.error(`webhook secret: ${fake.webhookSecret}`);
  const stop = () => fake.close();
  Deno.addSignalListener("SIGINT", stop);
  Deno.addSignalListener("SIGTERM", stop);
  await fake.finished;
}
