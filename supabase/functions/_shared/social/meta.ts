// What the Facebook and Instagram publishers share: Graph errors. Throttling is an error code
// (4, 17, 32, 613, 80001...) with the X-Business-Use-Case-Usage header (per business object:
// estimated_time_to_regain_access, in minutes) or X-App-Usage; an expired or revoked token is
// code 190 (status 400 or 401); is_transient marks Graph's own trouble.
import { retryAfterSeconds } from "../retry_after.ts";
import {
  type Answer,
  call,
  failure,
  platformMessage,
  type PublishOutcome,
  transient,
} from "./outcome.ts";

const THROTTLED = new Set([4, 17, 32, 613, 80001, 80002, 80004, 80005, 80006, 80008]);
/** Meta's usage headers without a time to regain access: its windows are one hour. */
const UNTIMED_THROTTLE_SECONDS = 300;

/** Seconds until Meta lets the caller back in, from X-Business-Use-Case-Usage. */
export function metaThrottleSeconds(headers: Headers): number {
  try {
    const usage = JSON.parse(headers.get("x-business-use-case-usage") ?? "{}") as Record<
      string,
      { estimated_time_to_regain_access?: number }[]
    >;
    const minutes = Math.max(
      0,
      ...Object.values(usage).flat().map((u) => u.estimated_time_to_regain_access ?? 0),
    );
    if (minutes > 0) return minutes * 60;
  } catch {
    // unreadable header: fall back below
  }
  return headers.has("retry-after") ? retryAfterSeconds(headers) : UNTIMED_THROTTLE_SECONDS;
}

const graphError = (body: unknown) =>
  ((body as { error?: { code?: unknown; is_transient?: unknown } })?.error ?? {}) as {
    code?: number;
    is_transient?: boolean;
  };

/** A failed Graph answer as an outcome; `sent` as in failure(). */
export function graphFailure(
  platform: string,
  answer: Answer | { lost: string },
  sent: boolean,
): PublishOutcome {
  if (!("lost" in answer) && answer.status < 500) {
    const error = graphError(answer.body);
    const message = platformMessage(platform, answer);
    if (error.code === 190) return { kind: "expired_token", message };
    if (THROTTLED.has(error.code ?? 0)) {
      return {
        kind: "retry",
        afterSeconds: metaThrottleSeconds(answer.headers),
        countAttempt: false,
        message,
      };
    }
    if (error.is_transient === true) {
      return sent ? { kind: "maybe_posted", message } : transient(message);
    }
  }
  return failure(platform, answer, {
    sent,
    rateLimitSeconds: (a) => metaThrottleSeconds(a.headers),
  });
}

/** A Graph call with the token in the query (GET) or the form (POST). */
export function graphCall(
  url: string,
  token: string,
  params: Record<string, string>,
  options: { post?: boolean; timeoutMs: number },
) {
  const target = new URL(url);
  const form = new URLSearchParams({ ...params, access_token: token });
  if (!options.post) target.search = form.toString();
  return call(target, options.post ? { method: "POST", body: form } : {}, options.timeoutMs);
}
