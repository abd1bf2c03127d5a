// A fake X (Twitter) speaking OAuth 2.0 with PKCE and API v2 the way api.x.com does:
//   GET  /i/oauth2/authorize   → 302 to redirect_uri with code and state (or error=access_denied)
//   POST /2/oauth2/token       Basic client auth; authorization_code (+ code_verifier) and
//                              refresh_token grants; refresh tokens rotate on every use
//   GET  /2/users/me           → {"data": {"id", "name", "username"}}, x-rate-limit-* headers
//   POST /2/oauth2/revoke      → {"revoked": true}
// Errors: {"error", "error_description"} from the token endpoint (X answers invalid_request
// for a bad code or refresh token), problem JSON {"title", "detail", "type", "status"} from
// the API, 429 with x-rate-limit-limit/remaining/reset.
import { authorizeRoute } from "./authorize.ts";
import type { Route } from "./server.ts";
import { twitterPublishing } from "./twitter_publishing.ts";
import {
  basicCredentials,
  bearer,
  type Failure,
  type FakeOptions,
  FakeState,
  formParams,
  json,
  redirectBack,
  s256,
} from "./state.ts";

const rateHeaders = (remaining: number) => ({
  "x-rate-limit-limit": "75",
  "x-rate-limit-remaining": String(remaining),
  "x-rate-limit-reset": String(Math.floor(Date.now() / 1000) + 900),
});

export const problem = (
  status: number,
  title: string,
  headers: Record<string, string> = {},
) => json({ title, detail: title, type: "about:blank", status }, status, headers);

export function failed(failure: Failure, grantError = "invalid_request"): Response {
  switch (failure) {
    case "server_error":
      return problem(503, "Service Unavailable");
    case "rate_limited":
      return problem(429, "Too Many Requests", rateHeaders(0));
    case "expired_token":
      return problem(401, "Unauthorized");
    case "rejected":
      return json({
        detail: "You are not allowed to create a Tweet with duplicate content.",
        type: "about:blank",
        title: "Forbidden",
        status: 403,
      }, 403);
    case "accept_then_timeout":
      return problem(504, "Gateway Timeout");
    case "invalid_grant":
      return json({
        error: grantError,
        error_description: "Value passed for the token was invalid.",
      }, 400);
  }
}

export function twitterFake(options?: FakeOptions) {
  const state = new FakeState("twitter", options, 7200);

  /** X's answer to a request without the app's Basic credentials; undefined when they are right. */
  const refuseClient = (request: Request) => {
    const [id, secret] = basicCredentials(request) ?? [];
    if (id === state.clientId && secret === state.clientSecret) return undefined;
    return json({
      error: "unauthorized_client",
      error_description: "Missing valid authorization header",
    }, 401);
  };

  const routes: Record<string, Route> = {
    "GET /i/oauth2/authorize": authorizeRoute(state, {
      scopeSeparator: " ",
      unknownApp: "Something went wrong. You weren't able to give access to the App.",
      denied: { error: "access_denied" },
    }, ({ query, redirectUri, stateParam, asked }) => {
      if (
        query.get("code_challenge_method") !== "S256" ||
        !query.get("code_challenge")
      ) {
        return redirectBack(redirectUri, {
          error: "invalid_request",
          state: stateParam,
        });
      }
      const code = state.issueCode({
        redirectUri,
        scopes: state.granted(asked),
        codeChallenge: query.get("code_challenge")!,
      });
      return redirectBack(redirectUri, { state: stateParam, code });
    }),

    "POST /2/oauth2/token": async (request) => {
      const params = await formParams(request);
      const grantType = params.get("grant_type");
      const endpoint = grantType === "refresh_token" ? "refresh" : "token";
      const failure = await state.enter(endpoint, true);
      if (failure) return failed(failure);
      const refused = refuseClient(request);
      if (refused) return refused;
      let scopes: string[];
      if (grantType === "authorization_code") {
        const grant = state.takeCode(params);
        const verifier = params.get("code_verifier");
        if (
          !grant || !verifier || await s256(verifier) !== grant.codeChallenge
        ) {
          return json({
            error: "invalid_request",
            error_description: "Value passed for the authorization code was invalid.",
          }, 400);
        }
        scopes = grant.scopes;
      } else if (grantType === "refresh_token") {
        const old = params.get("refresh_token") ?? "";
        const poison = state.poisoned.get(old);
        if (poison === "malformed") {
          return new Response("<html><body>Something went wrong</body></html>", {
            headers: { "content-type": "text/html; charset=utf-8" },
          });
        }
        if (poison) return failed(poison);
        const grant = state.refreshTokens.get(old);
        if (!grant) return failed("invalid_grant");
        state.refreshTokens.delete(old);
        scopes = grant.scopes;
      } else {
        return json({
          error: "unsupported_grant_type",
          error_description: "Value passed for the grant type was invalid.",
        }, 400);
      }
      const grant = { clientId: state.clientId, scopes };
      const refresh = scopes.includes("offline.access") && state.issueRefreshTokens &&
          !(endpoint === "refresh" && state.refreshOmitsRefreshToken)
        ? state.issueRefreshToken(grant)
        : undefined;
      return json({
        token_type: "bearer",
        expires_in: state.accessTokenTtl,
        access_token: state.issueAccessToken(grant),
        scope: scopes.join(" "),
        ...(refresh ? { refresh_token: refresh } : {}),
      });
    },

    "GET /2/users/me": async (request) => {
      const failure = await state.enter("profile");
      if (failure) return failed(failure);
      if (!state.accessGrant(bearer(request))) {
        return problem(401, "Unauthorized");
      }
      const { id, name, username } = state.account;
      return json({ data: { id, name, username } }, 200, rateHeaders(74));
    },

    "POST /2/oauth2/revoke": async (request) => {
      const failure = await state.enter("revoke");
      if (failure) return failed(failure);
      const refused = refuseClient(request);
      if (refused) return refused;
      const value = (await formParams(request)).get("token");
      if (value) state.revoke(value);
      return json({ revoked: true });
    },
  };

  return { state, routes: { ...routes, ...twitterPublishing(state) } };
}
