// Resend's batch endpoint through the `resend` SDK, and what its answers mean for each
// message of the batch.
//
//   POST {base}/emails/batch   Authorization: Bearer re_...   Idempotency-Key: <chunk key>
//        x-batch-validation: permissive
//        [{from, to, subject, html, text, reply_to, headers, tags}, ... up to 100]
//   200  {"data": [{"id"}...], "errors": [{"index", "message"}...]}   valid ones sent,
//        invalid ones listed by index (permissive mode); ids follow the valid ones in order
//   400/422 {"statusCode", "name": "validation_error", "message"}     the batch was refused
//   401/403 missing/invalid API key
//   409  invalid_idempotent_request: the key was used (and its emails sent) with another
//        payload; concurrent_idempotent_requests: the key's first request is still running
//   429  rate_limit_exceeded, with retry-after and ratelimit-* headers
//   5xx  application_error / internal_server_error
//
// The same Idempotency-Key with the same payload within 24 hours answers the original
// response without sending again: a chunk that was sent but not recorded (a crash, a lost
// answer) is replayed safely. A chunk's key is fixed at its first claim while its members may
// only shrink (one suppressed meanwhile), so another payload under a known key means Resend
// already sent that key's first request, and with it every member of this one.
//
// The SDK never throws: it answers {data, error, headers}, with Resend's error body (its
// `statusCode` and `name`) and the response headers (Retry-After), or, when no answer came,
// headers null.
import { Resend } from "resend";
import { retryAfterSeconds } from "../retry_after.ts";

const BATCH_LIMIT = 100;
const TIMEOUT_MS = 15_000;

export type ResendEmail = {
  from: string;
  to: string[];
  subject: string;
  html: string;
  text: string;
  reply_to?: string;
  headers?: Record<string, string>;
  tags?: { name: string; value: string }[];
};

/** Per message: sent with its Resend id, or refused with Resend's reason. */
export type MessageResult = { id: string } | { error: string };

export type BatchResult =
  /** Resend answered 200: one result per message, in order. */
  | { kind: "accepted"; results: MessageResult[] }
  /** The whole batch was refused (validation): every message fails with `message`. */
  | { kind: "rejected"; status: number; message: string }
  /** 409 invalid_idempotent_request: this key's first request was sent; ids unknown. */
  | { kind: "already_sent"; message: string }
  /** 429: try again after `retryAfterSeconds`. */
  | { kind: "rate_limited"; retryAfterSeconds: number; message: string }
  /** 5xx, network, timeout, a key problem: try again later. */
  | { kind: "unavailable"; status?: number; message: string };

export type ResendClient = {
  sendBatch(
    emails: ResendEmail[],
    idempotencyKey: string,
  ): Promise<BatchResult>;
};

const KEY_ERRORS = new Set([
  "missing_api_key",
  "invalid_api_key",
  "restricted_api_key",
]);

/** Per message, in order: Resend lists ids for the valid ones and errors by index. */
function perMessage(
  body: { data?: unknown; errors?: unknown },
  count: number,
): MessageResult[] | undefined {
  const { data, errors = [] } = body;
  if (!Array.isArray(data) || !Array.isArray(errors)) return undefined;
  const failed = new Map<number, string>();
  for (const error of errors) {
    const { index, message } = (error ?? {}) as { index?: unknown; message?: unknown };
    if (!Number.isInteger(index) || (index as number) < 0 || (index as number) >= count) {
      return undefined;
    }
    failed.set(index as number, typeof message === "string" ? message : "rejected by Resend");
  }
  if (data.length + failed.size !== count) return undefined;
  const ids = data.map((entry) => (entry as { id?: unknown })?.id);
  if (!ids.every((id) => typeof id === "string" && id.length > 0)) return undefined;
  let next = 0;
  return Array.from({ length: count }, (_, index) => {
    const error = failed.get(index);
    return error === undefined ? { id: ids[next++] as string } : { error };
  });
}

export function createResendClient(
  options: { apiKey: string; baseUrl: string; timeoutMs?: number },
): ResendClient {
  const resend = new Resend(options.apiKey, {
    baseUrl: options.baseUrl.replace(/\/+$/, ""),
    userAgent: "beacon-dispatch",
  });
  const timeoutMs = options.timeoutMs ?? TIMEOUT_MS;
  return {
    async sendBatch(emails, idempotencyKey) {
      if (emails.length === 0 || emails.length > BATCH_LIMIT) {
        throw new Error(
          `a Resend batch holds 1 to ${BATCH_LIMIT} emails, not ${emails.length}`,
        );
      }
      const signal = AbortSignal.timeout(timeoutMs);
      const { data, error, headers } = await resend.batch.send(
        emails.map(({ reply_to, ...email }) => ({ ...email, replyTo: reply_to })),
        { idempotencyKey, batchValidation: "permissive", signal },
      );

      if (data) {
        const results = perMessage(data, emails.length);
        if (!results) {
          return {
            kind: "unavailable",
            status: 200,
            message: "Resend answered 200 with an unexpected body",
          };
        }
        return { kind: "accepted", results };
      }

      if (headers === null) {
        // No answer (or an unreadable one): the SDK swallows the fetch error and its reason,
        // so our own signal tells a timeout apart.
        return {
          kind: "unavailable",
          message: signal.aborted
            ? `Resend did not answer within ${timeoutMs / 1000}s`
            : `Resend could not be reached: ${error.message}`,
        };
      }
      // The SDK hands over Resend's error body, not the HTTP status: the body's statusCode
      // (which Resend always sends; the SDK fills it in for a body that is not JSON).
      const status = error.statusCode ?? undefined;
      const message = `Resend answered ${status ?? "an error"}${
        error.name ? ` ${error.name}` : ""
      }: ${error.message ?? "no message"}`;
      if (status === 429) {
        return {
          kind: "rate_limited",
          retryAfterSeconds: retryAfterSeconds(new Headers(headers)),
          message,
        };
      }
      if (status === 409 && error.name === "invalid_idempotent_request") {
        return { kind: "already_sent", message };
      }
      // Validation: retrying cannot change the answer.
      if (status === 400 || status === 422) {
        return { kind: "rejected", status, message };
      }
      // Anything else (5xx, a missing or invalid key, a concurrent request with the same
      // key, which answers the original response once it is done) may pass later: the queue retries with backoff and keeps this message.
      const hint = KEY_ERRORS.has(error.name) ? " (check the RESEND_API_KEY in use)" : "";
      return { kind: "unavailable", status, message: `${message}${hint}` };
    },
  };
}
