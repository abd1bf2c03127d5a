// LinkedIn: "Sign In with LinkedIn using OpenID Connect" plus the w_member_social permission
// to post as the member. Client credentials go in the form body; LinkedIn's web flow has no
// PKCE. The member id is the OpenID subject (urn:li:person:<sub> when posting).
//   authorize  https://www.linkedin.com/oauth/v2/authorization   (scopes space-separated)
//   token      https://www.linkedin.com/oauth/v2/accessToken    (scope comes back comma-separated)
//   userinfo   GET https://api.linkedin.com/v2/userinfo → {"sub", "name", "given_name", ...}
//   revoke     https://www.linkedin.com/oauth/v2/revoke
// Access tokens live 60 days. Refresh tokens (365 days) are issued only to apps LinkedIn
// enabled for programmatic refresh; without one, the member must connect again in time.
import type { ConfiguredPlatform } from "./config.ts";
import {
  OAuthClient,
  optionalString,
  parseScopes,
  type Provider,
  requireScopes,
  step,
  tokenSet,
} from "./oauth.ts";

const SCOPES = ["openid", "profile", "w_member_social"];

/** LinkedIn's refresh answers carry no token_type; RFC 6749 (and oauth4webapi) require one. */
const withTokenType = (body: Record<string, unknown>) =>
  typeof body.access_token === "string" && body.token_type === undefined
    ? { ...body, token_type: "bearer" }
    : body;

export function linkedinProvider(config: ConfiguredPlatform): Provider {
  const client = new OAuthClient(config, {
    auth: "client_secret_post",
    repairTokenResponse: withTokenType,
    userinfo: `${config.endpoints.api}/v2/userinfo`,
  });

  return {
    platform: "linkedin",
    pkce: false,

    authorizationUrl: (request) => client.authorizationUrl(request, SCOPES.join(" ")),

    async connect(callback) {
      const token = await client.exchangeCode(callback);
      const scopes = parseScopes(token.scope);
      requireScopes("linkedin", scopes, SCOPES);
      const me = await step("profile_failed", () => client.userinfo(token));
      const name = optionalString(me.name) ??
        ([me.given_name, me.family_name].filter(Boolean).join(" ") ||
          undefined);
      return {
        platformUserId: me.sub,
        username: name,
        tokens: { ...tokenSet(token), scopes },
        accounts: [],
      };
    },

    refresh: (tokens) =>
      client.refresh(
        tokens,
        "LinkedIn issued no refresh token (programmatic refresh is not enabled for this app)",
      ),

    async revoke(tokens) {
      await client.revoke(tokens.accessToken, "access_token");
      return { revoked: true };
    },
  };
}
