// A fake Instagram (Instagram API with Instagram Login) the way its hosts answer:
//   GET  /oauth/authorize           (www.instagram.com) → 302 with code and state, and "#_"
//   POST /oauth/access_token        (api.instagram.com) form with client_id, client_secret,
//        grant_type, redirect_uri, code → {"data": [{"access_token", "user_id", "permissions"}]}
//        with user_id an unquoted 17-digit number (too large for a JavaScript number);
//        errors {"error_type": "OAuthException", "code": 400, "error_message"}
//   GET  /access_token?grant_type=ig_exchange_token          (graph.instagram.com) → long-lived
//   GET  /refresh_access_token?grant_type=ig_refresh_token   → renewed long-lived token
//   GET  /v21.0/me?fields=user_id,username                   → {"user_id", "username", "id"}
// Graph errors elsewhere; there is no revocation endpoint.
import { authorizeRoute } from "./authorize.ts";
import { graphFailure, invalidToken, tokenAnswer } from "./graph.ts";
import { instagramPublishing } from "./instagram_publishing.ts";
import type { Route } from "./server.ts";
import { type FakeOptions, FakeState, formParams, json, redirectBack } from "./state.ts";

const LONG_LIVED = 5184000;
/** An Instagram professional account id: 17 digits, past Number.MAX_SAFE_INTEGER. */
const ACCOUNT_ID = "17841405793187218";

const instagramError = (message: string) =>
  json(
    { error_type: "OAuthException", code: 400, error_message: message },
    400,
  );

export function instagramFake(options?: FakeOptions) {
  const state = new FakeState("instagram", {
    ...options,
    account: { id: ACCOUNT_ID, ...options?.account },
  }, 3600);

  const routes: Record<string, Route> = {
    "GET /oauth/authorize": authorizeRoute(state, {
      scopeSeparator: ",",
      unknownApp: "Invalid platform app",
      denied: {
        error: "access_denied",
        error_reason: "user_denied",
        error_description: "The user denied your request",
      },
    }, ({ redirectUri, stateParam, asked }) => {
      const code = state.issueCode({ redirectUri, scopes: state.granted(asked) });
      return redirectBack(redirectUri, { code, state: stateParam }, "#_");
    }),

    "POST /oauth/access_token": async (request) => {
      const failure = await state.enter("token", true);
      if (failure) return graphFailure(failure);
      const params = await formParams(request);
      if (
        params.get("client_id") !== state.clientId ||
        params.get("client_secret") !== state.clientSecret
      ) {
        return instagramError("Invalid platform app");
      }
      if (params.get("grant_type") !== "authorization_code") {
        return instagramError("Invalid grant_type");
      }
      const grant = state.takeCode(params);
      if (!grant) return instagramError("Invalid authorization code");
      const access = state.issueAccessToken(grant);
      // Written by hand: JSON.stringify cannot write an integer this large unquoted.
      return new Response(
        `{"data":[{"access_token":${JSON.stringify(access)},"user_id":${state.account.id},` +
          `"permissions":${JSON.stringify(grant.scopes.join(","))}}]}`,
        { headers: { "content-type": "application/json; charset=utf-8" } },
      );
    },

    "GET /access_token": async (request) => {
      const failure = await state.enter("exchange", true);
      if (failure) return graphFailure(failure);
      const q = new URL(request.url).searchParams;
      if (
        q.get("grant_type") !== "ig_exchange_token" ||
        q.get("client_secret") !== state.clientSecret
      ) {
        return json({
          error: {
            message: "Invalid request",
            type: "OAuthException",
            code: 100,
          },
        }, 400);
      }
      const short = state.accessGrant(q.get("access_token") ?? undefined);
      if (!short) return invalidToken();
      return tokenAnswer(state, short, LONG_LIVED);
    },

    "GET /refresh_access_token": async (request) => {
      const failure = await state.enter("refresh", true);
      if (failure) return graphFailure(failure);
      const q = new URL(request.url).searchParams;
      const current = q.get("access_token") ?? "";
      const grant = q.get("grant_type") === "ig_refresh_token"
        ? state.accessGrant(current)
        : undefined;
      if (!grant) return invalidToken();
      state.accessTokens.delete(current);
      return tokenAnswer(state, grant, LONG_LIVED);
    },

    "GET /v21.0/me": async (request) => {
      const failure = await state.enter("profile");
      if (failure) return graphFailure(failure);
      const q = new URL(request.url).searchParams;
      if (!state.accessGrant(q.get("access_token") ?? undefined)) {
        return invalidToken();
      }
      return json({
        user_id: state.account.id,
        username: state.account.username,
        id: "9012345678901234",
      });
    },
  };

  return { state, routes: { ...routes, ...instagramPublishing(state) } };
}
