// Instagram API with Instagram Login (business login for professional accounts). The code
// becomes a short-lived token (one hour) at api.instagram.com, exchanged at
// graph.instagram.com for a long-lived one (60 days) that is renewed with ig_refresh_token.
//   authorize   https://www.instagram.com/oauth/authorize         (scopes comma-separated)
//   token       POST https://api.instagram.com/oauth/access_token (form; client secret in body)
//               → {"data": [{"access_token", "user_id", "permissions"}]} (older apps: flat)
//   exchange    GET https://graph.instagram.com/access_token?grant_type=ig_exchange_token
//   refresh     GET https://graph.instagram.com/refresh_access_token?grant_type=ig_refresh_token
//   profile     GET https://graph.instagram.com/v21.0/me?fields=user_id,username
// Its token answer is not RFC 6749 (no token_type, a `data` wrapper, a numeric user_id too
// large for a JavaScript number), so the code exchange is an explicit request; the state and
// error parameters are still checked by oauth4webapi.
// Revocation: Instagram has no API to revoke a token. The user removes the app in
// Instagram's settings (Apps and websites); Beacon can only forget the token.
import type { ConfiguredPlatform } from "./config.ts";
import { graph, graphTransient, metaClient } from "./meta.ts";
import {
  ConnectError,
  expiresAt,
  fetchJson,
  field,
  optionalString,
  parseScopes,
  type Provider,
  requireScopes,
  step,
  type TokenSet,
} from "./oauth.ts";

const SCOPES = [
  "instagram_business_basic",
  "instagram_business_content_publish",
];
const GRAPH_VERSION = "v21.0";

export function instagramProvider(config: ConfiguredPlatform): Provider {
  const client = metaClient(config);
  const api = config.endpoints.api;
  const { id: appId, secret: appSecret } = config.client;

  const longLived = (
    body: Record<string, unknown>,
    what: string,
  ): TokenSet => ({
    accessToken: field(body, "access_token", what),
    expiresAt: expiresAt(body.expires_in),
  });

  return {
    platform: "instagram",
    pkce: false,

    authorizationUrl: (request) => client.authorizationUrl(request, SCOPES.join(",")),

    async connect(callback) {
      const code = client.callbackParameters(callback).get("code");
      if (!code) {
        throw new ConnectError("authorization_failed", "instagram: no code");
      }
      const short = await step("token_exchange_failed", async () => {
        const answer = await fetchJson(config.endpoints.token, {
          method: "POST",
          what: "the code exchange",
          transientBody: graphTransient,
          body: new URLSearchParams({
            client_id: appId,
            client_secret: appSecret,
            grant_type: "authorization_code",
            redirect_uri: callback.redirectUri,
            code,
          }),
        });
        const entry = (Array.isArray(answer.data) ? answer.data[0] : answer) ??
          {};
        return {
          accessToken: field(entry, "access_token", "the code exchange"),
          permissions: parseScopes(
            entry.permissions as string | string[] | undefined,
          ),
        };
      });
      requireScopes("instagram", short.permissions, SCOPES);

      const tokens = await step("token_exchange_failed", async () =>
        longLived(
          await graph(`${api}/access_token`, {
            grant_type: "ig_exchange_token",
            client_secret: appSecret,
            access_token: short.accessToken,
          }, "the long-lived token exchange"),
          "the long-lived token exchange",
        ));

      const profile = await step("profile_failed", async () => {
        const me = await graph(`${api}/${GRAPH_VERSION}/me`, {
          fields: "user_id,username",
          access_token: tokens.accessToken,
        }, "the profile request");
        return {
          // user_id is the professional account id (the one publishing and webhooks use).
          id: optionalString(me.user_id) ??
            field(me, "id", "the Instagram profile"),
          username: optionalString(me.username),
        };
      });

      return {
        platformUserId: profile.id,
        username: profile.username,
        tokens: { ...tokens, scopes: short.permissions },
        accounts: [],
      };
    },

    async refresh(tokens) {
      const answer = await graph(`${api}/refresh_access_token`, {
        grant_type: "ig_refresh_token",
        access_token: tokens.accessToken,
      }, "the token refresh");
      return { refreshed: longLived(answer, "the token refresh") };
    },

    revoke: () =>
      Promise.resolve({
        revoked: false,
        reason: "Instagram has no token revocation API; the user can remove the app in " +
          "Instagram's settings (Apps and websites)",
      }),
  };
}
