// Facebook Login for a Page-publishing app. The code becomes a short-lived user token, which
// is exchanged for a long-lived one (about 60 days). Granted permissions come from
// /me/permissions (the token answer does not list them) and the pages the user manages from
// /me/accounts. Page tokens are not stored: derived from a long-lived user token they do
// not expire, and the publisher asks /me/accounts for them when it posts.
//   authorize   https://www.facebook.com/v21.0/dialog/oauth            (scopes comma-separated)
//   token       https://graph.facebook.com/v21.0/oauth/access_token    (code; fb_exchange_token)
//   profile     GET /me?fields=id,name, GET /me/permissions, GET /me/accounts
//   revoke      DELETE /me/permissions → {"success": true}
// Long-lived user tokens cannot be refreshed by any grant: near expiry the connection is
// marked as needing re-authorisation.
import type { ConfiguredPlatform } from "./config.ts";
import { appSecretProof, graph, metaClient } from "./meta.ts";
import {
  type Account,
  expiresAt,
  field,
  optionalString,
  type Provider,
  requireScopes,
  step,
} from "./oauth.ts";

const SCOPES = [
  "public_profile",
  "pages_show_list",
  "pages_read_engagement",
  "pages_manage_posts",
];
/** Publishing to a page needs all three page permissions. */
const REQUIRED = [
  "pages_show_list",
  "pages_read_engagement",
  "pages_manage_posts",
];
/** Meta documents long-lived user tokens as about 60 days; used when expires_in is absent. */
const LONG_LIVED_SECONDS = 60 * 24 * 3600;

export function facebookProvider(config: ConfiguredPlatform): Provider {
  const client = metaClient(config);
  const api = config.endpoints.api;
  const { id: appId, secret: appSecret } = config.client;

  /** A Graph call with the user's token and its appsecret_proof. */
  const asUser = async (
    path: string,
    token: string,
    what: string,
    query = {},
    method?: "DELETE",
  ) =>
    graph(
      `${api}${path}`,
      {
        ...query,
        access_token: token,
        appsecret_proof: await appSecretProof(appSecret, token),
      },
      what,
      method,
    );

  return {
    platform: "facebook",
    pkce: false,

    // auth_type=rerequest asks again for permissions the user declined last time.
    authorizationUrl: (request) =>
      client.authorizationUrl(request, SCOPES.join(","), {
        auth_type: "rerequest",
      }),

    async connect(callback) {
      const short = await client.exchangeCode(callback);
      const long = await step("token_exchange_failed", async () => {
        const answer = await graph(config.endpoints.token, {
          grant_type: "fb_exchange_token",
          client_id: appId,
          client_secret: appSecret,
          fb_exchange_token: short.access_token,
        }, "the long-lived token exchange");
        return {
          accessToken: field(
            answer,
            "access_token",
            "the long-lived token exchange",
          ),
          expiresAt: expiresAt(answer.expires_in),
        };
      });
      const accessToken = long.accessToken;

      const permissions = await step(
        "profile_failed",
        () => asUser("/me/permissions", accessToken, "the permissions request"),
      );
      const scopes = ((permissions.data ?? []) as { permission?: string; status?: string }[])
        .filter((p) => p.status === "granted" && typeof p.permission === "string")
        .map((p) => p.permission as string)
        .sort();
      requireScopes("facebook", scopes, REQUIRED);

      const profile = await step("profile_failed", async () => {
        const me = await asUser("/me", accessToken, "the profile request", {
          fields: "id,name",
        });
        return {
          id: field(me, "id", "the Facebook profile"),
          name: optionalString(me.name),
        };
      });
      const accounts = await step("profile_failed", async () => {
        const pages = await asUser(
          "/me/accounts",
          accessToken,
          "the pages request",
          {
            fields: "id,name",
            limit: "100",
          },
        );
        return ((pages.data ?? []) as Record<string, unknown>[]).map((
          page,
        ): Account => ({
          id: field(page, "id", "a Facebook page"),
          name: optionalString(page.name) ?? "",
        }));
      });

      return {
        platformUserId: profile.id,
        username: profile.name,
        tokens: {
          accessToken,
          expiresAt: long.expiresAt ?? expiresAt(LONG_LIVED_SECONDS),
          scopes,
        },
        accounts,
      };
    },

    refresh: () =>
      Promise.resolve({
        unsupported: "Facebook long-lived tokens cannot be refreshed; connect Facebook again",
      }),

    async revoke(tokens) {
      const answer = await asUser(
        "/me/permissions",
        tokens.accessToken,
        "the revocation",
        {},
        "DELETE",
      );
      if (answer.success !== true) {
        return {
          revoked: false,
          reason: "Facebook did not confirm the revocation",
        };
      }
      return { revoked: true };
    },
  };
}
