// Meta's Graph API conventions, shared by the Facebook and Instagram fakes: errors are
// {"error": {"message", "type", "code", "error_subcode", "is_transient", "fbtrace_id"}} with
// 400 for OAuth errors, throttling is error code 4 with the X-App-Usage header, and tokens
// arrive in the query string (optionally with appsecret_proof).
import { Buffer } from "node:buffer";
import { type Failure, json, token } from "./state.ts";

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

/** HMAC-SHA256(token, app secret) as hex, to check appsecret_proof. */
export async function expectedProof(
  appSecret: string,
  accessToken: string,
): Promise<string> {
  const key = await crypto.subtle.importKey(
    "raw",
    new TextEncoder().encode(appSecret),
    { name: "HMAC", hash: "SHA-256" },
    false,
    ["sign"],
  );
  const mac = await crypto.subtle.sign(
    "HMAC",
    key,
    new TextEncoder().encode(accessToken),
  );
  return Buffer.from(mac).toString("hex");
}
