// Cloudflare Turnstile's server-side check of a widget token (siteverify):
//
//   POST {base}/turnstile/v0/siteverify   application/x-www-form-urlencoded
//        secret=<the owner's secret key>&response=<cf-turnstile-response>&remoteip=<ip>
//        200 {"success": true, "challenge_ts", "hostname", "error-codes": [], "action", "cdata"}
//        200 {"success": false, "error-codes": ["invalid-input-response" | "timeout-or-duplicate"
//             | "invalid-input-secret" | "missing-input-response" | ...]}
//
// A token is single-use and valid for 300 seconds. The base URL is
// https://challenges.cloudflare.com, BEACON_TURNSTILE_URL in tests (the fake).
import { z } from "zod";

const TIMEOUT_MS = 10_000;
export const TURNSTILE_URL = "https://challenges.cloudflare.com";

const Answer = z.looseObject({
  success: z.boolean(),
  "error-codes": z.array(z.string()).default([]),
});

export type TurnstileVerdict = { success: boolean; errorCodes: string[] };

/** Asks siteverify about `token`; throws when Turnstile cannot be asked. */
export async function verifyTurnstile(
  base: string,
  secret: string,
  token: string,
  remoteIp?: string,
): Promise<TurnstileVerdict> {
  const body = new URLSearchParams({ secret, response: token });
  if (remoteIp) body.set("remoteip", remoteIp);
  const res = await fetch(`${base}/turnstile/v0/siteverify`, {
    method: "POST",
    body,
    signal: AbortSignal.timeout(TIMEOUT_MS),
  });
  if (!res.ok) {
    await res.body?.cancel();
    throw new Error(`Turnstile siteverify answered ${res.status}`);
  }
  const answer = Answer.parse(await res.json());
  return { success: answer.success, errorCodes: answer["error-codes"] };
}
