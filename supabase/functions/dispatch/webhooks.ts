// Workflow webhooks, the dispatcher's second lane (jobs of kind webhook in the one queue, seen
// through the private.webhook_queue view, filled by workflow `webhook` steps). Each claimed webhook is one signed POST of the exact body Postgres
// stored; its result goes back to Postgres, which retries with backoff, dead-letters after
// five attempts and wakes the workflow execution waiting for it.
//
// The request, as the webhook_queue migration documents it for receivers:
//   POST <url>   Content-Type: application/json   Idempotency-Key: <stable per webhook>
//   X-Beacon-Webhook-Id: <id>   X-Beacon-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of
//   "<t>.<body>" keyed with the owner's secret secret_name>   plus the step's own headers.
//
// The receiver's host is resolved once and every address checked (receivers.ts): a URL whose
// host is or resolves to a loopback, private, link-local or otherwise reserved address is
// refused, and the POST goes to the checked addresses only.
//
// Answers: 2xx sent; 429 retry after its Retry-After; 408, 425, 5xx, timeouts and network
// errors retry; redirects are not followed (the signed body stays where the owner sent it)
// and fail, as does any other 4xx. What is recorded is the status and a fixed reason of
// ours, never the receiver's body (it may come from somewhere the owner should not read).
import { STATUS_CODES } from "node:http";
import { hmacSha256Hex } from "../_shared/crypto.ts";
import { cachedLookup } from "../_shared/memo.ts";
import { readUserSecret } from "../_shared/secrets.ts";
import { retryAfterSeconds } from "../_shared/retry_after.ts";
import type { ClaimedWebhook, WebhookResult } from "./queries.ts";
import {
  connectionProblem,
  postPinned,
  type ReceiverAnswer,
  type Resolver,
  resolveReceiver,
  trustedCas,
} from "./receivers.ts";

export type WebhookSettings = {
  timeoutMs: number;
  /** Whether URLs may name loopback, private or link-local hosts (local stacks, tests). */
  allowPrivateHosts: boolean;
  /** Extra certificate authorities (PEM) trusted for receivers, e.g. an internal CA. */
  caCerts: string[];
  /** How receivers' host names are resolved (the system's resolver; tests inject theirs). */
  resolve: Resolver;
};

const RETRYABLE = new Set([408, 425, 429]);

/** The X-Beacon-Signature value of `body` sent at `timestamp` (unix seconds). */
export async function webhookSignature(
  secret: string,
  timestamp: number,
  body: string,
) {
  return `t=${timestamp},v1=${await hmacSha256Hex(
    secret,
    `${timestamp}.${body}`,
  )}`;
}

/** What we record for a receiver's status: the code and its standard name, nothing it wrote. */
const answered = (status: number) =>
  `the receiver answered ${status}${STATUS_CODES[status] ? ` ${STATUS_CODES[status]}` : ""}`;

/** A webhook's result from the receiver's answer. */
function resultOf(id: string, answer: ReceiverAnswer): WebhookResult {
  const { status } = answer;
  if (status >= 200 && status < 300) {
    return { webhook_id: id, outcome: "sent", http_status: status };
  }
  if (status >= 300 && status < 400) {
    return {
      webhook_id: id,
      outcome: "failed",
      http_status: status,
      error: `${answered(status)} (a redirect, not followed): point the step at the final URL`,
    };
  }
  if (RETRYABLE.has(status) || status >= 500) {
    return {
      webhook_id: id,
      outcome: "retry",
      http_status: status,
      error: answered(status),
      ...(status === 429
        ? {
          retry_after_seconds: Math.min(
            retryAfterSeconds(answer.headers),
            86_400,
          ),
        }
        : {}),
    };
  }
  return {
    webhook_id: id,
    outcome: "failed",
    http_status: status,
    error: answered(status),
  };
}

/**
 * Sends claimed webhooks, looking each owner's signing secret up once per sender: make one
 * per dispatch run, so a secret changed between runs is read afresh.
 */
export function createWebhookSender(settings: WebhookSettings) {
  const ca = trustedCas(settings.caCerts);
  // Keyed "<user id>/<secret name>"; both are free of "/" (a uuid, [A-Z0-9_]).
  const secretFor = cachedLookup((key) => {
    const [userId, name] = key.split("/");
    return readUserSecret(userId, name);
  });

  async function post(
    hook: ClaimedWebhook,
    secret: string,
  ): Promise<WebhookResult> {
    const id = hook.webhook_id;
    const url = new URL(hook.url);
    const destination = await resolveReceiver(
      url,
      settings.resolve,
      settings.allowPrivateHosts,
      settings.timeoutMs,
    );
    if ("problem" in destination) {
      return {
        webhook_id: id,
        outcome: destination.retry ? "retry" : "failed",
        error: destination.problem,
      };
    }
    try {
      const answer = await postPinned({
        url,
        addresses: destination.addresses,
        timeoutMs: settings.timeoutMs,
        ca,
        headers: {
          ...hook.headers,
          "content-type": "application/json",
          "idempotency-key": hook.idempotency_key,
          "x-beacon-webhook-id": id,
          "x-beacon-signature": await webhookSignature(
            secret,
            Math.floor(Date.now() / 1000),
            hook.body,
          ),
        },
        body: hook.body,
      });
      return resultOf(id, answer);
    } catch (err) {
      return {
        webhook_id: id,
        outcome: "retry",
        error: connectionProblem(err, url, settings.timeoutMs),
      };
    }
  }

  /** One result per webhook, in the order given; never throws for a single webhook's failure. */
  function send(hooks: ClaimedWebhook[]): Promise<WebhookResult[]> {
    return Promise.all(hooks.map(async (hook): Promise<WebhookResult> => {
      const id = hook.webhook_id;
      let secret: string | null;
      try {
        secret = await secretFor(`${hook.user_id}/${hook.secret_name}`);
      } catch (err) {
        return {
          webhook_id: id,
          outcome: "retry",
          error: `the secret ${hook.secret_name} could not be read: ${(err as Error).message}`,
        };
      }
      if (secret === null) {
        return {
          webhook_id: id,
          outcome: "failed",
          error: `no secret named ${hook.secret_name} to sign with: store one with ` +
            `PUT /functions/v1/secrets/${hook.secret_name}, then run the workflow again`,
        };
      }
      return await post(hook, secret);
    }));
  }

  return { send };
}
