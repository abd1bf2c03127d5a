// oauth: connects a user's X, LinkedIn, Facebook and Instagram accounts and keeps the tokens
// alive. Tokens are stored encrypted (AES-GCM, bound to user, platform and kind) and never
// leave this function.
//
//   POST   /functions/v1/oauth/{platform}/start     user   {"redirect_to"} → {"url"}
//   GET    /functions/v1/oauth/{platform}/go        the browser, at the url /start answered:
//          sets the state's cookie, 302 to the platform's consent screen
//   GET    /functions/v1/oauth/{platform}/callback  the browser, sent back by the platform
//          → 302 redirect_to?connected={platform} | redirect_to?error=<code>&platform=...
//   DELETE /functions/v1/oauth/{platform}           user   revoke at the provider, forget
//   POST   /functions/v1/oauth/refresh              service {"user_ids"?} → counts
//
// A connection is bound to the browser that started it: the first browser to open /go gets an
// HttpOnly, SameSite=Lax cookie (Secure except on http://localhost) holding a random nonce
// whose SHA-256 is stored with the state, and the callback consumes the state only for that
// cookie. A link forwarded to someone else (or leaked from a log) cannot connect their account
// into this user's Beacon.
//
// Callback error codes: access_denied, authorization_failed, invalid_state, token_exchange_failed,
// profile_failed, missing_scope (with missing_scopes=a,b), platform_not_configured,
// server_error. A state that is unknown, expired, already used or not this browser's sends the
// browser to the default return URL (BEACON_OAUTH_DEFAULT_RETURN_URL) with
// ?error=invalid_state&platform=..., never to a bare error page, and changes nothing.
//
// /go and /callback answer anyone, so they are rate-limited per client address and per state
// (settings.limits); over the limit a browser gets a 429 page with Retry-After saying when to
// reload it. Nothing is consumed before the limit is checked, so the reload goes on where the
// refused request stopped (while the state, and the platform's code, are still valid).
import type { Context } from "hono";
import {
  calculatePKCECodeChallenge,
  generateRandomCodeVerifier,
  generateRandomState,
} from "oauth4webapi";
import { getCookie, setCookie } from "hono/cookie";
import { Buffer } from "node:buffer";
import { z } from "zod";
import { requireService, requireUser } from "../_shared/auth.ts";
import { keyRing } from "../_shared/crypto.ts";
import { createApp, HttpError, readJson } from "../_shared/http.ts";
import { isPlatform, type Platform, PLATFORMS } from "../_shared/providers/config.ts";
import { ConnectError, type RevokeResult } from "../_shared/providers/oauth.ts";
import { rateLimit } from "../_shared/rate_limit.ts";
import type { ProviderSlot } from "../_shared/providers/registry.ts";
import { allowedRedirect, isLoopbackHttp, withParams } from "../_shared/redirects.ts";
import { refreshDueConnections } from "./refresh.ts";
import { callbackUrl, type OAuthSettings, readOAuthSettings } from "./settings.ts";
import {
  bindState,
  consumeState,
  insertState,
  removeConnection,
  saveConnection,
  sha256Hex,
} from "./store.ts";
import { openTokens } from "./tokens.ts";

const StartBody = z.object({
  redirect_to: z.string().min(1).max(2048),
});

const RefreshBody = z.object({
  user_ids: z.array(z.uuid()).min(1).max(1000).optional(),
});

/** The platform named in the path, or a 404 listing the known ones. */
function platformOf(
  c: Context,
  settings: OAuthSettings,
): { platform: Platform } & ProviderSlot {
  const platform = c.req.param("platform") ?? "";
  if (!isPlatform(platform)) {
    throw new HttpError(
      404,
      "unknown_platform",
      `There is no platform "${platform.slice(0, 40)}"; use one of ${PLATFORMS.join(", ")}.`,
    );
  }
  return { platform, ...settings.providers[platform] };
}

/** A state's lifetime (private.oauth_states), and so its cookie's. */
const STATE_SECONDS = 600;

/** The cookie of one state: one per state, so connecting in two tabs at once works. */
const cookieName = async (state: string) => `beacon_oauth_${(await sha256Hex(state)).slice(0, 16)}`;

/** The state in the request's query, when it can be one. */
const stateOf = (c: Context) => {
  const state = c.req.query("state");
  return state && state.length <= 512 ? state : undefined;
};

/** The URL carries a state or a one-time code: keep it out of caches and Referer headers. */
function keepPrivate(c: Context) {
  c.header("Cache-Control", "no-store");
  c.header("Referrer-Policy", "no-referrer");
}

export function createOAuthApp(settings: OAuthSettings) {
  const app = createApp("oauth");

  /** The state is unknown, expired, used, or not this browser's: back to the app, unchanged. */
  const invalidState = (c: Context, platform: Platform) => {
    if (!settings.defaultReturn) {
      return c.html(
        "<!doctype html><title>Start again</title><p>This sign-in link is unknown, expired or " +
          "was already used. Start connecting again from the app.</p>",
        400,
      );
    }
    return c.redirect(
      withParams(settings.defaultReturn, { error: "invalid_state", platform }),
      302,
    );
  };

  /**
   * The state cookie goes only to this function's routes, and comes back only from this site
   * or a top-level navigation (the platform sending the browser back).
   */
  const cookieOptions = (callbackBase: string) => {
    const base = new URL(callbackBase);
    return {
      path: `${base.pathname.replace(/\/+$/, "")}/`,
      httpOnly: true,
      secure: !isLoopbackHttp(base),
      sameSite: "Lax" as const,
      maxAge: STATE_SECONDS,
    };
  };

  const limit = rateLimit(settings.limits, {
    token: stateOf,
    advice: "Reload this page then, or start connecting again from the app.",
  });
  app.use("/:platform/go", limit);
  app.use("/:platform/callback", limit);

  app.post("/refresh", requireService, async (c) => {
    // pg_net posts {}; the local stack's loop may post nothing at all.
    const empty = !(await c.req.text()).trim();
    const { user_ids } = empty ? {} : await readJson(c, RefreshBody);
    return c.json(await refreshDueConnections(settings, { userIds: user_ids }));
  });

  app.post("/:platform/start", requireUser, async (c) => {
    const { platform, provider, config } = platformOf(c, settings);
    if (!provider) {
      throw new HttpError(
        503,
        "platform_not_configured",
        `${platform} is not configured on this server: set ${config.missing.join(" and ")}.`,
      );
    }
    if (!settings.allowlist) {
      throw new HttpError(
        503,
        "redirects_not_configured",
        "No redirect target is allowed yet: set BEACON_OAUTH_REDIRECT_ALLOWLIST to your app's " +
          "origins (comma-separated).",
      );
    }
    if (!settings.callbackBase) {
      throw new HttpError(
        503,
        "callback_not_configured",
        "The callback URL is unknown: set SUPABASE_URL or BEACON_OAUTH_CALLBACK_BASE_URL.",
      );
    }
    const { redirect_to } = await readJson(c, StartBody);
    const target = allowedRedirect(settings.allowlist, redirect_to);
    if (!target) {
      const allowed = settings.allowlist.map((rule) => `${rule.origin}${rule.path}`).join(", ");
      throw new HttpError(
        400,
        "redirect_not_allowed",
        `redirect_to must be a URL under one of: ${allowed}.`,
      );
    }

    const state = generateRandomState();
    const codeVerifier = provider.pkce ? generateRandomCodeVerifier() : undefined;
    try {
      await insertState({
        state,
        userId: c.get("user").sub,
        platform,
        codeVerifier,
        redirectTo: target.href,
      });
    } catch (err) {
      if ((err as { code?: string }).code === "23503") {
        throw new HttpError(
          401,
          "unauthorized",
          "The signed-in user no longer exists.",
        );
      }
      throw err;
    }
    const go = new URL(`${settings.callbackBase}/${platform}/go`);
    go.searchParams.set("state", state);
    return c.json({ url: go.href });
  });

  app.get("/:platform/go", async (c) => {
    const { platform, provider } = platformOf(c, settings);
    keepPrivate(c);
    const state = stateOf(c);
    if (!state || !provider || !settings.callbackBase) return invalidState(c, platform);
    const name = await cookieName(state);
    const fresh = Buffer.from(crypto.getRandomValues(new Uint8Array(32))).toString("base64url");
    const bound = await bindState(state, platform, { fresh, presented: getCookie(c, name) });
    if (!bound) {
      console.warn(`[oauth] ${platform}: /go refused an unknown, expired or bound state`);
      return invalidState(c, platform);
    }
    if (bound.bound) setCookie(c, name, fresh, cookieOptions(settings.callbackBase));
    const url = provider.authorizationUrl({
      redirectUri: callbackUrl(settings, platform),
      state,
      codeChallenge: bound.code_verifier
        ? await calculatePKCECodeChallenge(bound.code_verifier)
        : undefined,
    });
    return c.redirect(url.href, 302);
  });

  app.get("/:platform/callback", async (c) => {
    const { platform, provider } = platformOf(c, settings);
    keepPrivate(c);
    const params = new URL(c.req.url).searchParams;
    const state = stateOf(c);
    const name = state && await cookieName(state);
    const nonce = name && getCookie(c, name);
    const stored = state && nonce ? await consumeState(state, nonce) : undefined;
    if (!state || !stored || stored.expired) {
      const why = !state
        ? "no state"
        : !nonce
        ? "no cookie for its state (another browser?)"
        : !stored
        ? "an unknown, used or other browser's state"
        : "an expired state";
      console.warn(`[oauth] ${platform} callback refused: ${why}`);
      return invalidState(c, platform);
    }
    if (settings.callbackBase) {
      setCookie(c, name!, "", { ...cookieOptions(settings.callbackBase), maxAge: 0 });
    }
    const back = (outcome: Record<string, string>) =>
      c.redirect(withParams(stored.redirect_to, outcome), 302);
    const fail = (error: string, extra: Record<string, string> = {}) =>
      back({ error, platform, ...extra });

    if (stored.platform !== platform) return fail("invalid_state");
    if (!provider) return fail("platform_not_configured");
    try {
      const connection = await provider.connect({
        redirectUri: callbackUrl(settings, platform),
        params,
        state,
        codeVerifier: stored.code_verifier ?? undefined,
      });
      await saveConnection(
        await keyRing(),
        stored.user_id,
        platform,
        connection,
      );
    } catch (err) {
      if (err instanceof ConnectError) {
        console.warn(
          `[oauth] ${platform} connection refused (${err.code}): ${err.message}`,
        );
        return fail(
          err.code,
          err.missingScopes.length ? { missing_scopes: err.missingScopes.join(",") } : {},
        );
      }
      console.error(`[oauth] ${platform} callback failed:`, err);
      return fail("server_error");
    }
    return back({ connected: platform });
  });

  app.delete("/:platform", requireUser, async (c) => {
    const { platform, provider, config } = platformOf(c, settings);
    const user = c.get("user");
    const removed = await removeConnection(user.sub, platform);
    if (!removed) {
      throw new HttpError(
        404,
        "not_connected",
        `You have no ${platform} connection.`,
      );
    }
    let revocation: RevokeResult;
    if (!provider) {
      revocation = {
        revoked: false,
        reason: `not revoked: ${platform} is not configured (${config.missing.join(", ")})`,
      };
    } else {
      try {
        revocation = await provider.revoke(await openTokens(await keyRing(), removed));
      } catch (err) {
        console.warn(
          `[oauth] ${platform} revocation failed: ${(err as Error).message}`,
        );
        revocation = { revoked: false, reason: (err as Error).message };
      }
    }
    return c.json({ platform, disconnected: true, ...revocation });
  });

  return app;
}

export const app = createOAuthApp(readOAuthSettings());
