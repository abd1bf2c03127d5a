// Meta's Graph API conventions, shared by the Facebook and Instagram fakes: errors are
// {"error": {"message", "type", "code", "error_subcode", "is_transient", "fbtrace_id"}} with
// 400 for OAuth errors, throttling is error code 4 with the X-App-Usage header (the app's
// usage, which says no time to wait) or, publishing, a business use case's code with
// X-Business-Use-Case-Usage (its estimated_time_to_regain_access in minutes), and tokens
// arrive in the query string (optionally with appsecret_proof).
import { createHmac } from "node:crypto";
import { type Failure, type FakeState, type Grant, json, token } from "./state.ts";

export function graphError(
  status: number,
  code: number,
  message: string,
  extra: Record<string, unknown> = {},
  headers: Record<string, string> = {},
): Response {
  return json(
    {
      error: {
        message,
        type: "OAuthException",
        code,
        ...extra,
        fbtrace_id: token("trace"),
      },
    },
    status,
    headers,
  );
}

export const invalidToken = () =>
  graphError(
    400,
    190,
    "Invalid OAuth access token - Cannot parse access token",
  );

export function graphFailure(failure: Failure): Response {
  switch (failure) {
    case "server_error":
      return graphError(
        500,
        2,
        "An unexpected error has occurred. Please retry your request later.",
        {
          is_transient: true,
        },
      );
    case "rate_limited":
      return graphError(403, 4, "(#4) Application request limit reached", {
        is_transient: true,
      }, {
        "x-app-usage": JSON.stringify({
          call_count: 100,
          total_cputime: 12,
          total_time: 30,
        }),
      });
    case "expired_token":
      return graphError(
        400,
        190,
        "Error validating access token: Session has expired on Saturday, 05-Dec-26 " +
          "05:00:00 PST.",
        { error_subcode: 463 },
      );
    case "rejected":
      return graphError(400, 100, "Invalid parameter", {
        error_user_msg: "The post could not be published.",
      });
    case "accept_then_timeout":
      return graphError(504, 2, "Service temporarily unavailable", { is_transient: true });
    case "invalid_grant":
      return graphError(
        400,
        190,
        "Error validating access token: The user has not authorized " +
          "application.",
        { error_subcode: 458 },
      );
  }
}

/** Graph's time format: ISO 8601 in UTC with a "+0000" offset, to the second. */
export const graphTime = (epochMs: number) =>
  new Date(epochMs).toISOString().replace(/\.\d+Z$/, "+0000");

/**
 * HMAC-SHA256(token, app secret) as hex, to check appsecret_proof. Computed here, not taken
 * from the adapter's appSecretProof, so that the fake checks the adapter instead of agreeing
 * with it.
 */
export const expectedProof = (appSecret: string, accessToken: string): string =>
  createHmac("sha256", appSecret).update(accessToken).digest("hex");

/** Graph's token answer: a new bearer token for `grant` that lives `ttl` seconds. */
export const tokenAnswer = (
  state: FakeState,
  grant: Grant,
  ttl = state.accessTokenTtl,
): Response =>
  json({
    access_token: state.issueAccessToken(grant, ttl),
    token_type: "bearer",
    expires_in: ttl,
  });

/** Business use case throttling, per object, as Graph answers it. */
const THROTTLES = {
  pages: { code: 32, message: "Page request limit reached" },
  instagram: {
    code: 80002,
    message: "There have been too many calls to this Instagram account. Wait a bit and try again.",
  },
};

/**
 * `objectId`'s business use case is throttled: the use case's code, and the time to regain
 * access (minutes) in X-Business-Use-Case-Usage.
 */
export const bucThrottled = (
  objectId: string,
  type: keyof typeof THROTTLES,
  minutes: number,
) =>
  graphError(400, THROTTLES[type].code, THROTTLES[type].message, { is_transient: true }, {
    "x-business-use-case-usage": JSON.stringify({
      [objectId]: [{
        type,
        call_count: 100,
        total_cputime: 25,
        total_time: 25,
        estimated_time_to_regain_access: minutes,
      }],
    }),
  });
