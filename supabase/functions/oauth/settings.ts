// The oauth function's configuration. Only malformed values stop the function at start; a
// missing piece (a platform's client id, the redirect allow-list) is answered at
// /oauth/{platform}/start with the names of the settings to set, so one unconfigured
// platform never takes the others down.
import { z } from "zod";
import { ConfigError, readEnv } from "../_shared/env.ts";
import { type RateLimitSettings, readRateLimitSettings } from "../_shared/rate_limit.ts";
import type { Platform } from "../_shared/providers/config.ts";
import { createProviders, type ProviderSlot } from "../_shared/providers/registry.ts";
import { allowedRedirect, parseAllowlist, type RedirectRule } from "../_shared/redirects.ts";

export type OAuthSettings = {
  providers: Record<Platform, ProviderSlot>;
  /** Undefined until BEACON_OAUTH_REDIRECT_ALLOWLIST is set. */
  allowlist?: RedirectRule[];
  /** The public URL of this function, e.g. https://<ref>.supabase.co/functions/v1/oauth. */
  callbackBase?: string;
  /**
   * Where a browser goes whose state is unknown, expired, used or not its own (with
   * ?error=invalid_state): BEACON_OAUTH_DEFAULT_RETURN_URL, else the allow-list's first entry.
   */
  defaultReturn?: string;
  /**
   * The limits of the routes a browser opens without a login (/go, /callback): per client
   * address (BEACON_RATE_LIMIT_OAUTH_PER_IP, 60 a minute) and per state
   * (BEACON_RATE_LIMIT_OAUTH_PER_TOKEN, 20), far above a person connecting accounts.
   */
  limits: RateLimitSettings;
};

export function readOAuthSettings(
  env: Record<string, string> = Deno.env.toObject(),
): OAuthSettings {
  const values = readEnv({
    BEACON_OAUTH_REDIRECT_ALLOWLIST: z.string().optional(),
    BEACON_OAUTH_CALLBACK_BASE_URL: z.url({ protocol: /^https?$/ }).optional(),
    BEACON_OAUTH_DEFAULT_RETURN_URL: z.string().optional(),
    SUPABASE_URL: z.url({ protocol: /^https?$/ }).optional(),
  }, env);
  let allowlist: RedirectRule[] | undefined;
  if (values.BEACON_OAUTH_REDIRECT_ALLOWLIST !== undefined) {
    try {
      allowlist = parseAllowlist(values.BEACON_OAUTH_REDIRECT_ALLOWLIST);
    } catch (err) {
      throw new ConfigError(
        `configuration: BEACON_OAUTH_REDIRECT_ALLOWLIST: ${(err as Error).message}`,
      );
    }
  }
  const defaultReturn = values.BEACON_OAUTH_DEFAULT_RETURN_URL
    ? checkDefaultReturn(values.BEACON_OAUTH_DEFAULT_RETURN_URL, allowlist)
    : allowlist && `${allowlist[0].origin}${allowlist[0].path || "/"}`;
  const base = values.BEACON_OAUTH_CALLBACK_BASE_URL ??
    (values.SUPABASE_URL &&
      `${values.SUPABASE_URL.replace(/\/+$/, "")}/functions/v1/oauth`);
  return {
    providers: createProviders(env),
    allowlist,
    callbackBase: base?.replace(/\/+$/, ""),
    defaultReturn,
    limits: readRateLimitSettings("oauth", { perIp: 60, perToken: 20 }, env),
  };
}

/** BEACON_OAUTH_DEFAULT_RETURN_URL, normalised; it must be a URL the allow-list allows. */
function checkDefaultReturn(value: string, allowlist?: RedirectRule[]): string {
  const problem = (why: string) =>
    new ConfigError(`configuration: BEACON_OAUTH_DEFAULT_RETURN_URL: "${value}" ${why}`);
  let rules: RedirectRule[];
  try {
    rules = parseAllowlist(value);
  } catch (err) {
    throw problem(`is not usable: ${(err as Error).message}`);
  }
  if (rules.length !== 1) throw problem("must be one URL");
  const url = `${rules[0].origin}${rules[0].path || "/"}`;
  if (allowlist && !allowedRedirect(allowlist, url)) {
    throw problem("is not under BEACON_OAUTH_REDIRECT_ALLOWLIST");
  }
  return url;
}

/** The redirect_uri registered with each platform: the function's callback route. */
export const callbackUrl = (settings: OAuthSettings, platform: Platform) =>
  `${settings.callbackBase}/${platform}/callback`;
