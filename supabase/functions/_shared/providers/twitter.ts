// X (Twitter): OAuth 2.0 authorization code flow with PKCE (S256) for a confidential client
// (HTTP Basic client authentication), API v2 for the profile, refresh tokens that rotate on
// every use (offline.access), and RFC 7009 revocation.
//   authorize  https://x.com/i/oauth2/authorize
//   token      https://api.x.com/2/oauth2/token   (authorization_code and refresh_token grants)
//   revoke     https://api.x.com/2/oauth2/revoke
//   profile    GET https://api.x.com/2/users/me → {"data": {"id", "name", "username"}}
import type { ConfiguredPlatform } from "./config.ts";
import {
  fetchJson,
  field,
  OAuthClient,
  optionalString,
  parseScopes,
  type Provider,
  requireScopes,
  step,
  tokenSet,
} from "./oauth.ts";

/** Posting needs tweet.write with tweet.read and users.read; refreshing needs offline.access. */
const SCOPES = ["tweet.read", "tweet.write", "users.read", "offline.access"];

export function twitterProvider(config: ConfiguredPlatform): Provider {
  const client = new OAuthClient(config, { auth: "client_secret_basic" });
  const api = config.endpoints.api;

  return {
    platform: "twitter",
    pkce: true,

    authorizationUrl: (request) => client.authorizationUrl(request, SCOPES.join(" ")),

    async connect(callback) {
      const token = await client.exchangeCode(callback);
      const scopes = parseScopes(token.scope);
      requireScopes("twitter", scopes, SCOPES);
      const profile = await step("profile_failed", async () => {
        const me = await fetchJson(`${api}/2/users/me`, {
          what: "the X profile request",
          headers: { authorization: `Bearer ${token.access_token}` },
        });
        const user = (me.data ?? {}) as Record<string, unknown>;
        return {
          id: field(user, "id", "the X profile"),
          username: optionalString(user.username),
        };
      });
      return {
        platformUserId: profile.id,
        username: profile.username,
        tokens: { ...tokenSet(token), scopes },
        accounts: [],
      };
    },

    refresh: (tokens) =>
      client.refresh(tokens, "X issued no refresh token (offline.access was not granted)"),

    async revoke(tokens) {
      await client.revoke(tokens.accessToken, "access_token");
      if (tokens.refreshToken) {
        await client.revoke(tokens.refreshToken, "refresh_token");
      }
      return { revoked: true };
    },
  };
}
