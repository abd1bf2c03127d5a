// How long an HTTP server asked us to wait, for every outbound client (Resend, webhook
// receivers): Retry-After in seconds or as an HTTP date (RFC 9110), else the draft
// RateLimit-Reset header, else one second.

/** Seconds to wait: retry-after (seconds or an HTTP date), else ratelimit-reset, else 1. */
export function retryAfterSeconds(headers: Headers, now = Date.now()): number {
  const retryAfter = headers.get("retry-after")?.trim();
  if (retryAfter) {
    if (/^\d+(\.\d+)?$/.test(retryAfter)) {
      return Math.max(1, Math.ceil(Number(retryAfter)));
    }
    const at = Date.parse(retryAfter);
    if (!Number.isNaN(at)) return Math.max(1, Math.ceil((at - now) / 1000));
  }
  const reset = headers.get("ratelimit-reset")?.trim();
  if (reset && /^\d+$/.test(reset)) return Math.max(1, Number(reset));
  return 1;
}
