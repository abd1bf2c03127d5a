// Workflow webhooks, the dispatcher's second queue (private.webhook_queue, filled by workflow
// `webhook` steps). Each claimed webhook is one signed POST of the exact body Postgres
// stored; its result goes back to Postgres, which retries with backoff, dead-letters after
// five attempts and wakes the workflow execution waiting for it.
//
// The request, as the webhook_queue migration documents it for receivers:
//   POST <url>   Content-Type: application/json   Idempotency-Key: <stable per webhook>
//   X-Beacon-Webhook-Id: <id>   X-Beacon-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of
//   "<t>.<body>" keyed with the owner's secret secret_name>   plus the step's own headers.
//
// Answers: 2xx sent; 429 retry after its Retry-After; 408, 425, 5xx, timeouts and network
// errors retry; redirects are not followed (the signed body stays where the owner sent it)
// and fail, as does any other 4xx, with the receiver's status and the start of its body.
import { hmacSha256Hex } from "../_shared/crypto.ts";
import { cachedLookup } from "../_shared/memo.ts";
import { readUserSecret } from "../_shared/secrets.ts";
import { retryAfterSeconds } from "../_shared/retry_after.ts";
import type { ClaimedWebhook, WebhookResult } from "./queries.ts";

export type WebhookSettings = {
  timeoutMs: number;
  /** Whether URLs may name loopback, private or link-local hosts (local stacks, tests). */
  allowPrivateHosts: boolean;
  /** Extra certificate authorities (PEM) trusted for receivers, e.g. an internal CA. */
  caCerts: string[];
};

const BODY_SNIPPET = 300;
const RETRYABLE = new Set([408, 425, 429]);

/** The X-Beacon-Signature value of `body` sent at `timestamp` (unix seconds). */
export async function webhookSignature(secret: string, timestamp: number, body: string) {
  return `t=${timestamp},v1=${await hmacSha256Hex(secret, `${timestamp}.${body}`)}`;
}

const IPV4_PRIVATE: [number, number][] = [
  // [network as a 32-bit number, prefix length]
  [0x00000000, 8], // 0.0.0.0/8
  [0x0a000000, 8], // 10.0.0.0/8
  [0x64400000, 10], // 100.64.0.0/10 (carrier-grade NAT)
  [0x7f000000, 8], // 127.0.0.0/8
  [0xa9fe0000, 16], // 169.254.0.0/16 (link-local, cloud metadata)
  [0xac100000, 12], // 172.16.0.0/12
  [0xc0a80000, 16], // 192.168.0.0/16
];

function isPrivateIpv4(host: string): boolean {
  const parts = host.split(".").map(Number);
  const value = ((parts[0] << 24) | (parts[1] << 16) | (parts[2] << 8) | parts[3]) >>> 0;
  return IPV4_PRIVATE.some(([network, prefix]) =>
    value >>> (32 - prefix) === network >>> (32 - prefix)
  );
}

/**
 * Why a webhook may not go to `url`, or null. Only literal addresses and localhost names are
 * recognised: a public name that resolves to a private address is the network's to block.
 */
export function privateHostProblem(url: string): string | null {
  const host = new URL(url).hostname.toLowerCase();
  const bare = host.replace(/^\[|\]$/g, "");
  // URL() writes an IPv4-mapped IPv6 address in hex: [::ffff:10.0.0.1] is [::ffff:a00:1].
  const hexMapped = bare.match(/^::ffff:([0-9a-f]{1,4}):([0-9a-f]{1,4})$/);
  const mapped = hexMapped
    ? [parseInt(hexMapped[1], 16), parseInt(hexMapped[2], 16)].flatMap((
      n,
    ) => [n >> 8, n & 255]).join(".")
    : undefined;
  const ipv4 = mapped ?? (/^\d+\.\d+\.\d+\.\d+$/.test(bare) ? bare : undefined);
  const isPrivate = host === "localhost" || host.endsWith(".localhost") ||
    (ipv4 !== undefined && isPrivateIpv4(ipv4)) ||
    (bare.includes(":") &&
      (bare === "::1" || bare === "::" || /^f[cd]/.test(bare) ||
        /^fe[89ab]/.test(bare)));
  return isPrivate
    ? `${host} is a loopback, private or link-local address; webhooks go to public hosts only`
    : null;
}

/** The HTTP client for receivers: the system's trust store, plus `caCerts` when set. */
export const webhookClient = (settings: WebhookSettings) =>
  settings.caCerts.length ? Deno.createHttpClient({ caCerts: settings.caCerts }) : undefined;

/**
 * Sends claimed webhooks, looking each owner's signing secret up once per sender: make one
 * per dispatch run, so a secret changed between runs is read afresh.
 */
export function createWebhookSender(
  settings: WebhookSettings,
  client?: Deno.HttpClient,
) {
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
    let response: Response;
    try {
      response = await fetch(hook.url, {
        method: "POST",
        redirect: "manual",
        signal: AbortSignal.timeout(settings.timeoutMs),
        client,
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
    } catch (err) {
      const error = (err as Error).name === "TimeoutError"
        ? `no answer from ${hook.url} within ${settings.timeoutMs / 1000} s`
        : `could not reach ${hook.url}: ${(err as Error).message}`;
      return { webhook_id: id, outcome: "retry", error };
    }
    const status = response.status;
    if (status >= 200 && status < 300) {
      await response.body?.cancel();
      return { webhook_id: id, outcome: "sent", http_status: status };
    }
    const snippet = (await response.text().catch(() => "")).slice(
      0,
      BODY_SNIPPET,
    ).trim();
    const error = `the receiver answered ${status}${snippet ? `: ${snippet}` : ""}`;
    if (status >= 300 && status < 400) {
      return {
        webhook_id: id,
        outcome: "failed",
        http_status: status,
        error:
          `the receiver answered ${status} (a redirect, not followed): point the step at the final URL`,
      };
    }
    if (RETRYABLE.has(status) || status >= 500) {
      return {
        webhook_id: id,
        outcome: "retry",
        http_status: status,
        error,
        ...(status === 429
          ? {
            retry_after_seconds: Math.min(
              retryAfterSeconds(response.headers),
              86_400,
            ),
          }
          : {}),
      };
    }
    return { webhook_id: id, outcome: "failed", http_status: status, error };
  }

  /** One result per webhook, in the order given; never throws for a single webhook's failure. */
  function send(hooks: ClaimedWebhook[]): Promise<WebhookResult[]> {
    return Promise.all(hooks.map(async (hook): Promise<WebhookResult> => {
      const id = hook.webhook_id;
      if (!settings.allowPrivateHosts) {
        const problem = privateHostProblem(hook.url);
        if (problem) {
          return { webhook_id: id, outcome: "failed", error: problem };
        }
      }
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
