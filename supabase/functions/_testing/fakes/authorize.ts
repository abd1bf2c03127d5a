// The authorize endpoint as every fake platform serves it. The platforms differ only in how
// they list scopes, how they word a refusal and what an accepted request must carry, so those
// are passed in.
import type { Route } from "./server.ts";
import { type FakeState, redirectBack } from "./state.ts";

/** How one platform's authorize endpoint reads a request and turns it away. */
export type AuthorizeStyle = {
  /** What separates the scopes in the scope parameter. */
  scopeSeparator: " " | ",";
  /** The HTML page for an unknown client_id or a missing redirect_uri. */
  unknownApp: string;
  /** The error parameters a refusing user is sent back with (state is added). */
  denied: Record<string, string>;
  /** Appended to the refusal's redirect (Facebook's "#_=_"). */
  deniedHash?: string;
};

/** An authorize request from a known app that the user agreed to. */
export type Consent = {
  query: URLSearchParams;
  redirectUri: string;
  stateParam: string;
  asked: string[];
};

/**
 * Counts the call, turns away an unknown app or (with `state.deny`) the user, and otherwise
 * leaves it to `grant` to issue the code and send the browser back.
 */
export function authorizeRoute(
  state: FakeState,
  style: AuthorizeStyle,
  grant: (consent: Consent) => Response,
): Route {
  return async (request) => {
    await state.enter("authorize");
    const query = new URL(request.url).searchParams;
    const redirectUri = query.get("redirect_uri");
    if (query.get("client_id") !== state.clientId || !redirectUri) {
      return new Response(style.unknownApp, {
        status: 400,
        headers: { "content-type": "text/html" },
      });
    }
    const stateParam = query.get("state") ?? "";
    if (state.deny) {
      return redirectBack(
        redirectUri,
        { ...style.denied, state: stateParam },
        style.deniedHash,
      );
    }
    const asked = (query.get("scope") ?? "").split(style.scopeSeparator).filter(Boolean);
    return grant({ query, redirectUri, stateParam, asked });
  };
}
