// What Facebook and Instagram share: Meta's Graph API conventions. Errors come as
// {"error": {"message", "type", "code", "error_subcode", "is_transient", "fbtrace_id"}};
// throttling and temporary trouble are codes, not statuses. Tokens go in the query string.
import { hmacSha256Hex } from "../crypto.ts";
import type { ConfiguredPlatform } from "./config.ts";
import { fetchJson, OAuthClient, type TransientBody } from "./oauth.ts";

/** Graph error codes worth retrying: unknown/service errors and every rate limit. */
const TRANSIENT_CODES = new Set([1, 2, 4, 17, 32, 341, 613]);

export const graphTransient: TransientBody = (_status, body) => {
  const error = (body as { error?: { code?: unknown; is_transient?: unknown } })
    ?.error;
  return error?.is_transient === true ||
    TRANSIENT_CODES.has(error?.code as number);
};

/** Meta's token endpoints take the app secret in the form and throttle with Graph codes. */
export const metaClient = (config: ConfiguredPlatform) =>
  new OAuthClient(config, {
    auth: "client_secret_post",
    transientBody: graphTransient,
  });

/** appsecret_proof: HMAC-SHA256 of the token keyed with the app secret, as hex. */
export const appSecretProof = (appSecret: string, accessToken: string): Promise<string> =>
  hmacSha256Hex(appSecret, accessToken);

/** A Graph API call; `query` values are added to the URL. Throws ProviderError. */
export function graph(
  url: string,
  query: Record<string, string>,
  what: string,
  method: "GET" | "DELETE" = "GET",
): Promise<Record<string, unknown>> {
  const target = new URL(url);
  for (const [name, value] of Object.entries(query)) {
    target.searchParams.set(name, value);
  }
  return fetchJson(target, { method, what, transientBody: graphTransient });
}
