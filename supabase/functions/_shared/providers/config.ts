// Where each social platform lives and who we are to it. Every endpoint defaults to the
// platform's real URL and can be pointed elsewhere (tests point them at the fakes in
// `_testing/fakes/`). Client ids and secrets have no default: a platform without them is
// "not configured" and says which settings are missing instead of failing the function.
import { z } from "zod";
import { readEnv } from "../env.ts";

export const PLATFORMS = [
  "twitter",
  "linkedin",
  "facebook",
  "instagram",
] as const;
export type Platform = (typeof PLATFORMS)[number];

export const isPlatform = (value: string): value is Platform =>
  (PLATFORMS as readonly string[]).includes(value);

export type Endpoints = {
  /** The consent page the browser is sent to. */
  authorize: string;
  /** The token endpoint (code exchange, refresh grant). */
  token: string;
  /** The base of the platform's API (profile, long-lived exchange, revocation on Meta). */
  api: string;
  /** RFC 7009 revocation endpoint, where the platform has one. */
  revoke?: string;
  /** OpenID Connect issuer the ID token must name (LinkedIn). */
  issuer?: string;
};

export type PlatformConfig = {
  platform: Platform;
  endpoints: Endpoints;
  /** Present when both the client id and secret are set. */
  client?: { id: string; secret: string };
  /** The settings to set before the platform can be used (empty when configured). */
  missing: string[];
  /** LinkedIn's own settings: see linkedinSettings. */
  linkedin?: LinkedInSettings;
};

/**
 * LinkedIn's REST API (/rest/...) and who may be posted as:
 *   BEACON_LINKEDIN_VERSION        the LinkedIn-Version header (YYYYMM). Required for LinkedIn
 *                                  publishing and organisations, and never defaulted: LinkedIn
 *                                  retires versions after about a year and answers an
 *                                  outdated one with 426.
 *   BEACON_LINKEDIN_ORGANIZATIONS  true (default): connecting asks for the Community Management
 *                                  API's organisation scopes, to post as the member's Company
 *                                  Pages; false for an app without that product, which LinkedIn
 *                                  would refuse the whole consent for.
 */
export type LinkedInSettings = { version?: string; organizations: boolean };

export function linkedinSettings(env: Record<string, string>): LinkedInSettings {
  const values = readEnv({
    BEACON_LINKEDIN_VERSION: z.string().regex(/^\d{6}(\.\d{2})?$/, "must be YYYYMM").optional(),
    BEACON_LINKEDIN_ORGANIZATIONS: z.enum(["true", "false"]).default("true"),
  }, env);
  return {
    version: values.BEACON_LINKEDIN_VERSION,
    organizations: values.BEACON_LINKEDIN_ORGANIZATIONS === "true",
  };
}

/** A platform whose client id and secret are set. */
export type ConfiguredPlatform = PlatformConfig & {
  client: { id: string; secret: string };
};

const DEFAULTS: Record<Platform, Endpoints> = {
  twitter: {
    authorize: "https://x.com/i/oauth2/authorize",
    token: "https://api.x.com/2/oauth2/token",
    api: "https://api.x.com",
    revoke: "https://api.x.com/2/oauth2/revoke",
  },
  linkedin: {
    authorize: "https://www.linkedin.com/oauth/v2/authorization",
    token: "https://www.linkedin.com/oauth/v2/accessToken",
    api: "https://api.linkedin.com",
    revoke: "https://www.linkedin.com/oauth/v2/revoke",
    issuer: "https://www.linkedin.com/oauth",
  },
  facebook: {
    authorize: "https://www.facebook.com/v21.0/dialog/oauth",
    token: "https://graph.facebook.com/v21.0/oauth/access_token",
    api: "https://graph.facebook.com/v21.0",
  },
  instagram: {
    authorize: "https://www.instagram.com/oauth/authorize",
    token: "https://api.instagram.com/oauth/access_token",
    api: "https://graph.instagram.com",
  },
};

const LOOPBACK = new Set(["127.0.0.1", "localhost", "[::1]"]);

/** True for http:// on a loopback host: allowed for local fakes, never for anything else. */
export const isLoopbackHttp = (url: string) => {
  const parsed = URL.parse(url);
  return parsed?.protocol === "http:" && LOOPBACK.has(parsed.hostname);
};

const endpoint = z.url({ protocol: /^https?$/ }).refine(
  (value) => value.startsWith("https://") || isLoopbackHttp(value),
  "must be an https:// URL (http:// only on 127.0.0.1 or localhost)",
).transform((value) => value.replace(/\/+$/, ""));

const prefix = (platform: Platform) => `BEACON_${platform.toUpperCase()}`;

/** The configuration of one platform from `env` (default: the process environment). */
export function readPlatformConfig(
  platform: Platform,
  env: Record<string, string> = Deno.env.toObject(),
): PlatformConfig {
  const p = prefix(platform);
  const defaults = DEFAULTS[platform];
  const shape = {
    [`${p}_CLIENT_ID`]: z.string().min(1).max(200).optional(),
    [`${p}_CLIENT_SECRET`]: z.string().min(1).max(500).optional(),
    [`${p}_AUTHORIZE_URL`]: endpoint.default(defaults.authorize),
    [`${p}_TOKEN_URL`]: endpoint.default(defaults.token),
    [`${p}_API_URL`]: endpoint.default(defaults.api),
    ...(defaults.revoke ? { [`${p}_REVOKE_URL`]: endpoint.default(defaults.revoke) } : {}),
    ...(defaults.issuer ? { [`${p}_ISSUER`]: z.string().min(1).default(defaults.issuer) } : {}),
  };
  const values = readEnv(shape, env) as Record<string, string | undefined>;
  const id = values[`${p}_CLIENT_ID`];
  const secret = values[`${p}_CLIENT_SECRET`];
  return {
    platform,
    endpoints: {
      authorize: values[`${p}_AUTHORIZE_URL`]!,
      token: values[`${p}_TOKEN_URL`]!,
      api: values[`${p}_API_URL`]!,
      revoke: values[`${p}_REVOKE_URL`],
      issuer: values[`${p}_ISSUER`],
    },
    client: id && secret ? { id, secret } : undefined,
    missing: [
      ...(id ? [] : [`${p}_CLIENT_ID`]),
      ...(secret ? [] : [`${p}_CLIENT_SECRET`]),
    ],
    ...(platform === "linkedin" ? { linkedin: linkedinSettings(env) } : {}),
  };
}
