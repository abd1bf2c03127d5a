// What the platform adapters share: the adapter contract the oauth function programs
// against, the errors they throw, and one thin layer over oauth4webapi (PKCE, callback
// validation, code exchange, refresh grant, revocation) configured per platform, plus a JSON
// fetch for the non-OAuth calls (profiles, Meta's long-lived token exchanges).
import * as oauth from "oauth4webapi";
import { type ConfiguredPlatform, isLoopbackHttp, type Platform } from "./config.ts";

/** Every outbound call gives up after this long; a refresh retries later, a callback fails. */
const TIMEOUT_MS = 10_000;

export type TokenSet = {
  accessToken: string;
  /** Absent when the provider sent none: a stored refresh token is then kept, never blanked. */
  refreshToken?: string;
  expiresAt?: Date;
  /** Absent when the provider did not say: the stored scopes are then kept. */
  scopes?: string[];
};

/** Something the connection can publish as besides the user (a Facebook page). */
export type Account = { id: string; name: string };

/** What a successful callback yields, ready to store. */
export type Connection = {
  platformUserId: string;
  username?: string;
  tokens: TokenSet & { scopes: string[] };
  accounts: Account[];
};

/** The tokens of a stored connection, decrypted. */
export type StoredTokens = { accessToken: string; refreshToken?: string };

export type AuthorizationRequest = {
  redirectUri: string;
  state: string;
  codeChallenge?: string;
};

export type CallbackInput = {
  redirectUri: string;
  /** The query string the provider sent the browser back with. */
  params: URLSearchParams;
  state: string;
  codeVerifier?: string;
};

export type RefreshResult =
  | { refreshed: TokenSet }
  /** The platform has no grant to renew this token: the user must connect again in time. */
  | { unsupported: string };

export type RevokeResult = { revoked: true } | {
  revoked: false;
  reason: string;
};

/** One platform, as the oauth function sees it. */
export interface Provider {
  readonly platform: Platform;
  /** Whether the authorization request carries a PKCE challenge (S256). */
  readonly pkce: boolean;
  authorizationUrl(request: AuthorizationRequest): URL;
  /**
   * Code exchange, profile, long-lived exchange, and the check that the scopes posting needs
   * were granted; throws ConnectError.
   */
  connect(callback: CallbackInput): Promise<Connection>;
  /** Throws ProviderError, whose `transient` says whether to retry later. */
  refresh(tokens: StoredTokens): Promise<RefreshResult>;
  /** Throws ProviderError when the platform refuses or cannot be reached. */
  revoke(tokens: StoredTokens): Promise<RevokeResult>;
}

export type ConnectErrorCode =
  | "access_denied"
  | "authorization_failed"
  | "token_exchange_failed"
  | "profile_failed"
  | "missing_scope";

/** A callback that cannot become a connection; `code` goes back to the app as ?error=. */
export class ConnectError extends Error {
  constructor(
    readonly code: ConnectErrorCode,
    message: string,
    readonly missingScopes: string[] = [],
  ) {
    super(message);
    this.name = "ConnectError";
  }
}

/** A provider call that failed. Transient: worth retrying (5xx, 429, network, our config). */
export class ProviderError extends Error {
  constructor(
    message: string,
    readonly transient: boolean,
    readonly status?: number,
    readonly retryAt?: Date,
  ) {
    super(message);
    this.name = "ProviderError";
  }
}

// --- helpers -------------------------------------------------------------------------------

/** Scopes as a sorted set, from a space- or comma-separated string or a list. */
export function parseScopes(
  value: string | readonly string[] | undefined,
): string[] {
  const items = typeof value === "string" ? value.split(/[\s,]+/) : [...(value ?? [])];
  return [...new Set(items.map((s) => s.trim()).filter(Boolean))].sort();
}

/** Throws missing_scope naming what the user did not grant. */
export function requireScopes(
  platform: Platform,
  granted: string[],
  required: readonly string[],
) {
  const missing = required.filter((scope) => !granted.includes(scope));
  if (missing.length > 0) {
    throw new ConnectError(
      "missing_scope",
      `${platform}: the user did not grant ${missing.join(", ")}`,
      missing,
    );
  }
}

/** A token endpoint answer as a TokenSet; an empty refresh token counts as none. */
export const tokenSet = (token: oauth.TokenEndpointResponse): TokenSet => ({
  accessToken: token.access_token,
  refreshToken: token.refresh_token || undefined,
  expiresAt: expiresAt(token.expires_in),
  scopes: token.scope === undefined ? undefined : parseScopes(token.scope),
});

/** Runs one step of a callback; a provider failure becomes a ConnectError with `code`. */
export async function step<T>(
  code: ConnectErrorCode,
  work: () => Promise<T>,
): Promise<T> {
  try {
    return await work();
  } catch (err) {
    if (err instanceof ConnectError) throw err;
    throw new ConnectError(code, (await providerError(err, code)).message);
  }
}

export const expiresAt = (seconds: unknown): Date | undefined =>
  typeof seconds === "number" && Number.isFinite(seconds) && seconds > 0
    ? new Date(Date.now() + seconds * 1000)
    : undefined;

/** When a rate-limited or unavailable provider says to come back (Retry-After, X's reset). */
function retryAtFrom(headers: Headers): Date | undefined {
  const retryAfter = headers.get("retry-after");
  if (retryAfter) {
    const seconds = Number(retryAfter);
    const at = Number.isFinite(seconds) ? Date.now() + seconds * 1000 : Date.parse(retryAfter);
    if (Number.isFinite(at)) return new Date(at);
  }
  const reset = Number(headers.get("x-rate-limit-reset"));
  return reset > 0 ? new Date(reset * 1000) : undefined;
}

/** A readable message from any of the platforms' error bodies. */
export function describeError(body: unknown): string | undefined {
  if (typeof body !== "object" || body === null) return undefined;
  const b = body as Record<string, unknown>;
  const nested = typeof b.error === "object" && b.error !== null
    ? b.error as Record<string, unknown>
    : undefined;
  const errors = Array.isArray(b.errors) ? b.errors[0] as Record<string, unknown> : undefined;
  const text = [
    typeof b.error === "string"
      ? [b.error, b.error_description].filter((v) => typeof v === "string")
        .join(": ")
      : undefined,
    nested?.message, // Graph API: {"error": {"message", "type", "code"}}
    b.error_message, // Instagram's token endpoint: {"error_type", "code", "error_message"}
    b.detail, // X API v2 problem: {"title", "detail", "type", "status"}
    b.message, // LinkedIn API: {"serviceErrorCode", "message", "status"}
    errors?.message, // X API v1-style: {"errors": [{"message", "code"}]}
  ].find((value) => typeof value === "string" && value.length > 0);
  return text as string | undefined;
}

/** Decides whether a 4xx body means "try again later" (e.g. Graph's throttling codes). */
export type TransientBody = (status: number, body: unknown) => boolean;

const notTransient: TransientBody = () => false;

async function errorFromResponse(
  response: Response,
  what: string,
  transientBody: TransientBody,
): Promise<ProviderError> {
  const text = await response.text().catch(() => "");
  let body: unknown = text;
  try {
    body = JSON.parse(text);
  } catch {
    // not JSON: described by its status alone
  }
  const status = response.status;
  const detail = describeError(body) ?? `HTTP ${status}`;
  const transient = status === 408 || status === 429 || status >= 500 ||
    transientBody(status, body);
  return new ProviderError(
    `${what} failed (${status}): ${detail}`.slice(0, 900),
    transient,
    status,
    retryAtFrom(response.headers),
  );
}

/** Any failure of a provider call as a ProviderError. */
export async function providerError(
  err: unknown,
  what: string,
  transientBody: TransientBody = notTransient,
): Promise<ProviderError> {
  if (err instanceof ProviderError) return err;
  if (err instanceof oauth.ResponseBodyError) {
    // An RFC 6749 error body. invalid_client is our configuration, not the user's grant.
    const detail = [err.error, err.error_description].filter(Boolean).join(
      ": ",
    );
    const transient = err.status === 429 || err.status >= 500 ||
      err.error === "invalid_client";
    return new ProviderError(
      `${what} failed (${err.status}): ${detail}`.slice(0, 900),
      transient,
      err.status,
      retryAtFrom(err.response.headers),
    );
  }
  if (err instanceof oauth.WWWAuthenticateChallengeError) {
    return new ProviderError(
      `${what} failed (${err.status}): the client was not accepted`,
      true,
    );
  }
  if (
    err instanceof oauth.OperationProcessingError &&
    err.cause instanceof Response
  ) {
    // A non-standard error body (Meta's Graph errors) or a non-JSON answer.
    if (!err.cause.bodyUsed) {
      return await errorFromResponse(err.cause, what, transientBody);
    }
    return new ProviderError(
      `${what} failed (${err.cause.status})`,
      err.cause.status >= 500,
    );
  }
  if (
    err instanceof DOMException &&
    (err.name === "TimeoutError" || err.name === "AbortError")
  ) {
    return new ProviderError(
      `${what} timed out after ${TIMEOUT_MS / 1000}s`,
      true,
    );
  }
  if (err instanceof TypeError) {
    return new ProviderError(
      `${what} could not reach the provider: ${err.message}`,
      true,
    );
  }
  const message = err instanceof Error ? err.message : String(err);
  return new ProviderError(`${what} failed: ${message}`.slice(0, 900), true);
}

/**
 * GET or POST to a provider API and parse its JSON; a non-2xx answer throws ProviderError.
 * For calls oauth4webapi does not cover: profiles and Meta's long-lived token exchanges.
 */
export async function fetchJson(
  url: URL | string,
  init: RequestInit & { what: string; transientBody?: TransientBody },
): Promise<Record<string, unknown>> {
  const { what, transientBody = notTransient, ...request } = init;
  let response: Response;
  try {
    response = await fetch(url, {
      ...request,
      headers: { accept: "application/json", ...request.headers },
      redirect: "manual",
      signal: AbortSignal.timeout(TIMEOUT_MS),
    });
  } catch (err) {
    throw await providerError(err, what);
  }
  if (!response.ok) {
    throw await errorFromResponse(response, what, transientBody);
  }
  try {
    const body = await response.json();
    if (typeof body === "object" && body !== null && !Array.isArray(body)) {
      return body;
    }
  } catch {
    // falls through to the error below
  }
  throw new ProviderError(
    `${what} answered ${response.status} without a JSON object`,
    true,
  );
}

/** An optional JSON string field. */
export const optionalString = (value: unknown): string | undefined =>
  typeof value === "string" && value.length > 0 ? value : undefined;

/** A JSON field that must be a non-empty string (or a number, as ids sometimes are). */
export function field(
  body: Record<string, unknown>,
  name: string,
  what: string,
): string {
  const value = body[name];
  if (typeof value === "string" && value.length > 0) return value;
  if (typeof value === "number" && Number.isSafeInteger(value)) {
    return String(value);
  }
  throw new ProviderError(`${what}: the answer has no "${name}"`, true);
}

// --- oauth4webapi, configured per platform ---------------------------------------------------

export type ClientAuthMethod = "client_secret_basic" | "client_secret_post";

export type OAuthClientOptions = {
  auth: ClientAuthMethod;
  /** Repairs a platform's token responses before oauth4webapi validates them. */
  repairTokenResponse?: (
    body: Record<string, unknown>,
  ) => Record<string, unknown>;
  /** Graph-style throttling in 4xx bodies. */
  transientBody?: TransientBody;
  userinfo?: string;
};

/** The RFC 6749 / 7009 / 7636 parts of one platform, done by oauth4webapi. */
export class OAuthClient {
  readonly as: oauth.AuthorizationServer;
  readonly client: oauth.Client;
  readonly #auth: oauth.ClientAuth;
  readonly #http: oauth.HttpRequestOptions<"POST", URLSearchParams>;
  readonly #get: oauth.HttpRequestOptions<"GET">;
  readonly #transientBody: TransientBody;

  constructor(
    readonly config: ConfiguredPlatform,
    options: OAuthClientOptions,
  ) {
    const { endpoints } = config;
    this.as = {
      issuer: endpoints.issuer ?? new URL(endpoints.authorize).origin,
      authorization_endpoint: endpoints.authorize,
      token_endpoint: endpoints.token,
      revocation_endpoint: endpoints.revoke,
      userinfo_endpoint: options.userinfo,
    };
    this.client = { client_id: config.client.id };
    this.#auth = options.auth === "client_secret_basic"
      ? oauth.ClientSecretBasic(config.client.secret)
      : oauth.ClientSecretPost(config.client.secret);
    this.#transientBody = options.transientBody ?? notTransient;
    const repair = options.repairTokenResponse;
    const insecure = [endpoints.token, endpoints.revoke, options.userinfo]
      .some((url) => url !== undefined && isLoopbackHttp(url));
    const signal = () => AbortSignal.timeout(TIMEOUT_MS);
    // Only ever true for http:// on loopback (the fakes): config.ts refuses other http URLs.
    this.#get = { signal, [oauth.allowInsecureRequests]: insecure };
    this.#http = {
      signal,
      [oauth.allowInsecureRequests]: insecure,
      ...(repair ? { [oauth.customFetch]: repairingFetch(repair) } : {}),
    };
  }

  /** The authorization URL with the standard parameters; adapters add their own. */
  authorizationUrl(
    request: AuthorizationRequest,
    scopes: string,
    extra: Record<string, string> = {},
  ) {
    const url = new URL(this.config.endpoints.authorize);
    const params = {
      response_type: "code",
      client_id: this.client.client_id,
      redirect_uri: request.redirectUri,
      scope: scopes,
      state: request.state,
      ...(request.codeChallenge
        ? {
          code_challenge: request.codeChallenge,
          code_challenge_method: "S256",
        }
        : {}),
      ...extra,
    };
    for (const [name, value] of Object.entries(params)) {
      url.searchParams.set(name, value);
    }
    return url;
  }

  /** Checks the callback's state and error parameters; the provider's refusal → ConnectError. */
  callbackParameters(input: CallbackInput): URLSearchParams {
    try {
      return oauth.validateAuthResponse(
        this.as,
        this.client,
        input.params,
        input.state,
      );
    } catch (err) {
      if (err instanceof oauth.AuthorizationResponseError) {
        const denied = DENIALS.has(err.error) ||
          input.params.get("error_reason") === "user_denied";
        throw new ConnectError(
          denied ? "access_denied" : "authorization_failed",
          `${this.config.platform}: ${
            [err.error, err.error_description].filter(Boolean).join(": ")
          }`,
        );
      }
      throw new ConnectError(
        "authorization_failed",
        `${this.config.platform}: ${(err as Error).message}`,
      );
    }
  }

  /**
   * Authorization code grant, with the PKCE verifier where the request had a challenge. An ID
   * token in the answer has its claims checked (issuer, audience, expiry); its signature is
   * not, as it came straight from the token endpoint over TLS (OpenID Connect Core 3.1.3.7).
   */
  async exchangeCode(
    input: CallbackInput,
  ): Promise<oauth.TokenEndpointResponse> {
    const params = this.callbackParameters(input);
    try {
      const response = await oauth.authorizationCodeGrantRequest(
        this.as,
        this.client,
        this.#auth,
        params,
        input.redirectUri,
        input.codeVerifier ?? oauth.nopkce,
        this.#http,
      );
      return await oauth.processAuthorizationCodeResponse(
        this.as,
        this.client,
        response,
      );
    } catch (err) {
      const failure = await providerError(
        err,
        "the code exchange",
        this.#transientBody,
      );
      throw new ConnectError("token_exchange_failed", failure.message);
    }
  }

  /**
   * Refresh token grant; a connection the platform gave no refresh token is `unsupported`,
   * with that reason. Throws ProviderError.
   */
  async refresh(
    tokens: StoredTokens,
    unsupported: string,
  ): Promise<RefreshResult> {
    if (!tokens.refreshToken) return { unsupported };
    try {
      const response = await oauth.refreshTokenGrantRequest(
        this.as,
        this.client,
        this.#auth,
        tokens.refreshToken,
        this.#http,
      );
      return {
        refreshed: tokenSet(
          await oauth.processRefreshTokenResponse(
            this.as,
            this.client,
            response,
          ),
        ),
      };
    } catch (err) {
      throw await providerError(err, "the refresh grant", this.#transientBody);
    }
  }

  /** RFC 7009 revocation; throws ProviderError. */
  async revoke(
    token: string,
    hint: "access_token" | "refresh_token",
  ): Promise<void> {
    try {
      const response = await oauth.revocationRequest(
        this.as,
        this.client,
        this.#auth,
        token,
        {
          ...this.#http,
          additionalParameters: { token_type_hint: hint },
        },
      );
      await oauth.processRevocationResponse(response);
    } catch (err) {
      throw await providerError(err, "the revocation", this.#transientBody);
    }
  }

  /**
   * OpenID Connect userinfo for a code exchange's answer; its `sub` must be the ID token's
   * (when the answer had one). Throws ProviderError.
   */
  async userinfo(
    token: oauth.TokenEndpointResponse,
  ): Promise<oauth.UserInfoResponse> {
    try {
      const subject = oauth.getValidatedIdTokenClaims(token)?.sub ??
        oauth.skipSubjectCheck;
      const response = await oauth.userInfoRequest(
        this.as,
        this.client,
        token.access_token,
        this.#get,
      );
      return await oauth.processUserInfoResponse(
        this.as,
        this.client,
        subject,
        response,
      );
    } catch (err) {
      throw await providerError(
        err,
        "the userinfo request",
        this.#transientBody,
      );
    }
  }
}

/** Provider `error` values that mean the user said no. */
const DENIALS = new Set([
  "access_denied",
  // LinkedIn: the member cancelled the sign-in or refused the permissions.
  "user_cancelled_login",
  "user_cancelled_authorize",
]);

/** A fetch that lets `repair` rewrite successful JSON token responses. */
function repairingFetch(
  repair: (body: Record<string, unknown>) => Record<string, unknown>,
) {
  return async (
    url: string,
    init: oauth.CustomFetchOptions<"POST", URLSearchParams>,
  ): Promise<Response> => {
    const response = await fetch(url, init);
    if (
      !response.ok || !response.headers.get("content-type")?.includes("json")
    ) return response;
    const headers = new Headers(response.headers);
    headers.delete("content-length");
    headers.delete("content-encoding");
    return Response.json(repair(await response.json()), {
      status: response.status,
      headers,
    });
  };
}
