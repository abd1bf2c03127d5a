// A fake LinkedIn speaking its OAuth 2.0 + OpenID Connect the way www.linkedin.com and
// api.linkedin.com do:
//   GET  /oauth/v2/authorization → 302 with code and state (or error=user_cancelled_authorize)
//   POST /oauth/v2/accessToken   client_id and client_secret in the form body;
//        authorization_code → {"access_token", "expires_in", "scope" (comma-separated),
//        "token_type", "id_token", ["refresh_token", "refresh_token_expires_in"]};
//        refresh_token → {"access_token", "expires_in", "refresh_token",
//        "refresh_token_expires_in"} (no token_type, as LinkedIn documents it)
//   GET  /v2/userinfo            → {"sub", "name", "given_name", "family_name", ...}
//   POST /oauth/v2/revoke        → 200, empty body
// and the Company Pages the member has a role on (`organizations`; setOrganizations changes
// them), served with the Posts API by linkedin_publishing.ts.
// Errors: {"error", "error_description"} from the OAuth endpoints; {"serviceErrorCode",
// "code", "message", "status"} from the API; throttling is a 429.
import { generateKeyPair, SignJWT } from "jose";
import { authorizeRoute } from "./authorize.ts";
import { type FakeOrganization, linkedinPublishing } from "./linkedin_publishing.ts";
import type { Route } from "./server.ts";
import {
  bearer,
  type Failure,
  type FakeOptions,
  FakeState,
  formParams,
  json,
  redirectBack,
} from "./state.ts";

/** LinkedIn's real issuer: the ID token must name it. */
export const LINKEDIN_ISSUER = "https://www.linkedin.com/oauth";

export function failed(failure: Failure): Response {
  switch (failure) {
    case "server_error":
      return json({ message: "Internal Server Error", status: 500 }, 500);
    case "rate_limited":
      return json({
        status: 429,
        serviceErrorCode: 101,
        code: "TOO_MANY_REQUESTS",
        message:
          "Resource level throttle APPLICATION DAY limit for calls to this resource is reached.",
      }, 429);
    case "expired_token":
      return json({
        status: 401,
        serviceErrorCode: 65601,
        code: "EXPIRED_ACCESS_TOKEN",
        message: "The token used in the request has expired",
      }, 401);
    case "rejected":
      return json({
        status: 422,
        code: "UNPROCESSABLE_ENTITY",
        message: "Content is a duplicate of urn:li:share:7000000000000000000",
      }, 422);
    case "accept_then_timeout":
      return json({ message: "Gateway Timeout", status: 504 }, 504);
    case "invalid_grant":
      return json({
        error: "invalid_grant",
        error_description: "The provided authorization grant or refresh token is invalid, " +
          "expired or revoked.",
      }, 400);
  }
}

export async function linkedinFake(
  options?: FakeOptions & { organizations?: FakeOrganization[] },
) {
  const state = new FakeState("linkedin", options, 60 * 24 * 3600);
  let organizations = options?.organizations ??
    [{ id: 10000001, name: "Beacon Demo Company", role: "ADMINISTRATOR" }];
  const keys = await generateKeyPair("RS256");
  const kid = "fake-linkedin-key";

  const idToken = (nowSeconds: number) =>
    new SignJWT({
      name: state.account.name,
      given_name: state.account.name.split(" ")[0],
      family_name: state.account.name.split(" ").slice(1).join(" "),
      email_verified: true,
      locale: "en_US",
    })
      .setProtectedHeader({ alg: "RS256", kid, typ: "JWT" })
      .setIssuer(LINKEDIN_ISSUER)
      .setAudience(state.clientId)
      .setSubject(state.account.id)
      .setIssuedAt(nowSeconds)
      .setExpirationTime(nowSeconds + 3600)
      .sign(keys.privateKey);

  /** LinkedIn's answer to a form without the app's id and secret; undefined when they are right. */
  const refuseClient = (params: URLSearchParams) => {
    if (
      params.get("client_id") === state.clientId &&
      params.get("client_secret") === state.clientSecret
    ) return undefined;
    return json({
      error: "invalid_client",
      error_description: "Client authentication failed",
    }, 401);
  };

  const routes: Record<string, Route> = {
    "GET /oauth/v2/authorization": authorizeRoute(state, {
      scopeSeparator: " ",
      unknownApp: "The redirect_uri does not match the registered value",
      denied: {
        error: "user_cancelled_authorize",
        error_description: "The user cancelled the authorization",
      },
    }, ({ redirectUri, stateParam, asked }) => {
      const code = state.issueCode({ redirectUri, scopes: state.granted(asked) });
      return redirectBack(redirectUri, { code, state: stateParam });
    }),

    "POST /oauth/v2/accessToken": async (request) => {
      const params = await formParams(request);
      const refreshing = params.get("grant_type") === "refresh_token";
      const failure = await state.enter(refreshing ? "refresh" : "token", true);
      if (failure) return failed(failure);
      const refused = refuseClient(params);
      if (refused) return refused;
      const now = Math.floor(Date.now() / 1000);
      if (refreshing) {
        const old = params.get("refresh_token") ?? "";
        const grant = state.refreshTokens.get(old);
        if (!grant) return failed("invalid_grant");
        return json({
          access_token: state.issueAccessToken(grant),
          expires_in: state.accessTokenTtl,
          ...(state.refreshOmitsRefreshToken ? {} : { refresh_token: old }),
          refresh_token_expires_in: 31536000,
        });
      }
      if (params.get("grant_type") !== "authorization_code") {
        return json({
          error: "unsupported_grant_type",
          error_description: "Unsupported grant type",
        }, 400);
      }
      const grant = state.takeCode(params);
      if (!grant) {
        return json({
          error: "invalid_request",
          error_description: "Unable to retrieve access token: appid/redirect uri/code verifier " +
            "does not match authorization code. Or authorization code expired. Or external " +
            "member binding exists",
        }, 400);
      }
      const issued = { clientId: state.clientId, scopes: grant.scopes };
      return json({
        access_token: state.issueAccessToken(issued),
        expires_in: state.accessTokenTtl,
        scope: grant.scopes.join(","),
        token_type: "Bearer",
        ...(grant.scopes.includes("openid") ? { id_token: await idToken(now) } : {}),
        ...(state.issueRefreshTokens
          ? {
            refresh_token: state.issueRefreshToken(issued),
            refresh_token_expires_in: 31536000,
          }
          : {}),
      });
    },

    "GET /v2/userinfo": async (request) => {
      const failure = await state.enter("profile");
      if (failure) return failed(failure);
      if (!state.accessGrant(bearer(request))) {
        return json({
          serviceErrorCode: 65600,
          message: "Invalid access token",
          status: 401,
        }, 401);
      }
      const [given, ...family] = state.account.name.split(" ");
      return json({
        sub: state.account.id,
        email_verified: true,
        name: state.account.name,
        locale: { country: "US", language: "en" },
        given_name: given,
        family_name: family.join(" "),
        email: `${state.account.username}@example.test`,
      });
    },

    "POST /oauth/v2/revoke": async (request) => {
      const failure = await state.enter("revoke");
      if (failure) return failed(failure);
      const params = await formParams(request);
      const refused = refuseClient(params);
      if (refused) return refused;
      const value = params.get("token");
      if (value) state.revoke(value);
      return new Response(null, { status: 200 });
    },
  };

  return {
    state,
    routes: { ...routes, ...linkedinPublishing(state, () => organizations) },
    setOrganizations(next: FakeOrganization[]) {
      organizations = next;
    },
  };
}
