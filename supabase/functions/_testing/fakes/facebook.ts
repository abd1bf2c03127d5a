// A fake Facebook (Facebook Login and the Graph API, v21.0) the way graph.facebook.com answers:
//   GET      /v21.0/dialog/oauth         → 302 with code and state, and Facebook's "#_=_"
//                                          (denied: error=access_denied&error_reason=user_denied)
//   GET|POST /v21.0/oauth/access_token   code → short-lived user token;
//                                          grant_type=fb_exchange_token → long-lived (~60 days)
//   GET      /v21.0/me                    → {"id", "name"}
//   GET      /v21.0/me/permissions        → {"data": [{"permission", "status"}]}
//   GET      /v21.0/me/accounts           → {"data": [{"id", "name", "access_token", "tasks"}], "paging"}
//   DELETE   /v21.0/me/permissions        → {"success": true} (the app's grant is removed)
// Tokens come in the query string; a wrong appsecret_proof is refused like Graph does.
import { authorizeRoute } from "./authorize.ts";
import { expectedProof, graphError, graphFailure, invalidToken, tokenAnswer } from "./graph.ts";
import { facebookPublishing } from "./facebook_publishing.ts";
import type { Route } from "./server.ts";
import { type FakeOptions, FakeState, formParams, json, redirectBack } from "./state.ts";

const LONG_LIVED = 5183944;

export function facebookFake(
  options?: FakeOptions & { pages?: { id: string; name: string }[] },
) {
  const state = new FakeState("facebook", options, 5400);
  let pages = options?.pages ?? [{ id: "page-1", name: "Beacon Demo Page" }];
  const publishing = facebookPublishing(state);

  /** The grant behind the request's access_token, or the Graph error to answer with. */
  async function authorised(request: Request) {
    const params = await formParams(request);
    const access = params.get("access_token") ?? undefined;
    const grant = state.accessGrant(access);
    if (!grant) return { error: invalidToken() };
    const proof = params.get("appsecret_proof");
    if (proof !== null && proof !== expectedProof(state.clientSecret, access!)) {
      return {
        error: graphError(
          400,
          100,
          "Invalid appsecret_proof provided in the API argument",
        ),
      };
    }
    return { grant, access: access! };
  }

  const routes: Record<string, Route> = {
    "GET /v21.0/dialog/oauth": authorizeRoute(state, {
      scopeSeparator: ",",
      unknownApp: "Invalid App ID",
      denied: {
        error: "access_denied",
        error_code: "200",
        error_description: "Permissions error",
        error_reason: "user_denied",
      },
      deniedHash: "#_=_",
    }, ({ redirectUri, stateParam, asked }) => {
      const code = state.issueCode({ redirectUri, scopes: asked });
      return redirectBack(redirectUri, { code, state: stateParam }, "#_=_");
    }),

    "GET /v21.0/oauth/access_token": (request) => accessToken(request),
    "POST /v21.0/oauth/access_token": (request) => accessToken(request),

    "GET /v21.0/me": async (request) => {
      const failure = await state.enter("profile");
      if (failure) return graphFailure(failure);
      const auth = await authorised(request);
      if (auth.error) return auth.error;
      return json({ id: state.account.id, name: state.account.name });
    },

    "GET /v21.0/me/permissions": async (request) => {
      const failure = await state.enter("permissions");
      if (failure) return graphFailure(failure);
      const auth = await authorised(request);
      if (auth.error) return auth.error;
      const granted = state.granted(auth.grant.scopes);
      return json({
        data: auth.grant.scopes.map((permission) => ({
          permission,
          status: granted.includes(permission) ? "granted" : "declined",
        })),
      });
    },

    "GET /v21.0/me/accounts": async (request) => {
      const failure = await state.enter("accounts");
      if (failure) return graphFailure(failure);
      const auth = await authorised(request);
      if (auth.error) return auth.error;
      return json({
        data: pages.map((page) => ({
          access_token: publishing.pageToken(page.id),
          category: "Software",
          category_list: [{ id: "2211", name: "Software" }],
          name: page.name,
          id: page.id,
          tasks: [
            "ADVERTISE",
            "ANALYZE",
            "CREATE_CONTENT",
            "MESSAGING",
            "MODERATE",
            "MANAGE",
          ],
        })),
        paging: { cursors: { before: "QVFIUmZA", after: "QVFIUmZB" } },
      });
    },

    "DELETE /v21.0/me/permissions": async (request) => {
      const failure = await state.enter("revoke");
      if (failure) return graphFailure(failure);
      const auth = await authorised(request);
      if (auth.error) return auth.error;
      state.revoke(auth.access);
      return json({ success: true });
    },
  };

  async function accessToken(request: Request): Promise<Response> {
    const params = await formParams(request);
    const exchanging = params.get("grant_type") === "fb_exchange_token";
    const failure = await state.enter(exchanging ? "exchange" : "token", true);
    if (failure) return graphFailure(failure);
    if (params.get("client_id") !== state.clientId) {
      return graphError(
        400,
        101,
        "Error validating application. Invalid application ID.",
      );
    }
    if (params.get("client_secret") !== state.clientSecret) {
      return graphError(400, 1, "Error validating client secret.");
    }
    if (exchanging) {
      const short = state.accessGrant(
        params.get("fb_exchange_token") ?? undefined,
      );
      if (!short) return invalidToken();
      return tokenAnswer(state, short, LONG_LIVED);
    }
    const code = params.get("code");
    const known = code ? state.codes.get(code) : undefined;
    const grant = state.takeCode(params);
    if (!grant) {
      return known
        ? graphError(
          400,
          100,
          "Error validating verification code. Please make sure your " +
            "redirect_uri is identical to the one you used in the OAuth dialog request",
          {
            error_subcode: 36008,
          },
        )
        : graphError(400, 100, "Invalid verification code format.");
    }
    return tokenAnswer(state, grant);
  }

  return {
    state,
    routes: { ...routes, ...publishing.routes },
    setPages(next: { id: string; name: string }[]) {
      pages = next;
    },
  };
}
