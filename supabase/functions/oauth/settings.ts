// The oauth function's configuration. Only malformed values stop the function at start; a
// missing piece (a platform's client id, the redirect allow-list) is answered at
// /oauth/{platform}/start with the names of the settings to set, so one unconfigured
// platform never takes the others down.
import { z } from "zod";
import { ConfigError, readEnv } from "../_shared/env.ts";
import type { Platform } from "../_shared/providers/config.ts";
import { createProviders, type ProviderSlot } from "../_shared/providers/registry.ts";
import { parseAllowlist, type RedirectRule } from "./redirects.ts";

export type OAuthSettings = {
  providers: Record<Platform, ProviderSlot>;
  /** Undefined until BEACON_OAUTH_REDIRECT_ALLOWLIST is set. */
  allowlist?: RedirectRule[];
  /** The public URL of this function, e.g. https://<ref>.supabase.co/functions/v1/oauth. */
  callbackBase?: string;
};

export function readOAuthSettings(
  env: Record<string, string> = Deno.env.toObject(),
): OAuthSettings {
  const values = readEnv({
    BEACON_OAUTH_REDIRECT_ALLOWLIST: z.string().optional(),
    BEACON_OAUTH_CALLBACK_BASE_URL: z.url({ protocol: /^https?$/ }).optional(),
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
  const base = values.BEACON_OAUTH_CALLBACK_BASE_URL ??
    (values.SUPABASE_URL &&
      `${values.SUPABASE_URL.replace(/\/+$/, "")}/functions/v1/oauth`);
  return {
    providers: createProviders(env),
    allowlist,
    callbackBase: base?.replace(/\/+$/, ""),
  };
}

/** The redirect_uri registered with each platform: the function's callback route. */
export const callbackUrl = (settings: OAuthSettings, platform: Platform) =>
  `${settings.callbackBase}/${platform}/callback`;
