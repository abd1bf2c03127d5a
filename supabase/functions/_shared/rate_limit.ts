// Rate limits for public routes (no login: tracking links, provider webhooks, forms): a Hono
// middleware that counts each request against a per-IP and a per-token limit in Postgres
// (private.rate_limit_hit: fixed windows, one statement per request, since many instances
// of a function run at once and none keeps state between requests) and answers 429 with
// Retry-After once either is spent. A browser (Accept: text/html) gets a short page, anything
// else JSON: {"error": "rate_limited", "message", "retry_after_seconds"}.
//
//   const limits = readRateLimitSettings("track", { perIp: 300, perToken: 60 });
//   app.use("/:kind/:token", rateLimit(limits, { token: (c) => c.req.param("token") }));
//
// Settings, from the environment (NAME is the limit's name upper-cased, e.g. TRACK):
//   BEACON_RATE_LIMIT_<NAME>_PER_IP     requests per window from one client address
//   BEACON_RATE_LIMIT_<NAME>_PER_TOKEN  requests per window carrying one token
//   BEACON_RATE_LIMIT_WINDOW_SECONDS    the window (60)
//   BEACON_CLIENT_IP_HEADER             the header holding the client's address, set by the
//                                       proxy in front of the functions (cf-connecting-ip)
//
// The client address: only a header the platform's proxy sets can be trusted, and only
// where clients cannot reach the functions around that proxy. On hosted Supabase every
// request passes Cloudflare, which sets CF-Connecting-IP to the address it was connected
// from, replacing whatever the client sent; X-Forwarded-For is not used by default because
// its first hop is whatever the client wrote. A list (X-Forwarded-For behind a proxy of
// your own) is read from its right-most entry, the one the nearest proxy added. A request
// without a valid address is limited per token only (and the function logs it once).
//
// Tokens are counted by a digest, never stored. If Postgres cannot be asked, the request
// goes through (logged): a limit must not take an unsubscribe down with it.
import type { Context, MiddlewareHandler } from "hono";
import { z } from "zod";
import { sql } from "./db.ts";
import { clientAddress } from "./email/client.ts";

export { clientAddress };
import { escapeHtml } from "./email/html.ts";
import { readEnv } from "./env.ts";

export type RateLimitSettings = {
  /** The limit's name: its buckets are "<name>:ip" and "<name>:token". */
  name: string;
  perIp: number;
  perToken: number;
  windowSeconds: number;
  /** The header holding the client's address (lower-case). */
  ipHeader: string;
};

/** Per-route limits a person never reaches; each function chooses its own. */
export type RateLimitDefaults = { perIp: number; perToken: number };

const LIMIT = z.coerce.number().int().min(1).max(1_000_000);

/** The settings of the limit `name` from the environment, with `defaults`. */
export function readRateLimitSettings(
  name: string,
  defaults: RateLimitDefaults,
  source: Record<string, string> = Deno.env.toObject(),
): RateLimitSettings {
  const prefix = `BEACON_RATE_LIMIT_${name.toUpperCase()}`;
  const env = readEnv({
    [`${prefix}_PER_IP`]: LIMIT.default(defaults.perIp),
    [`${prefix}_PER_TOKEN`]: LIMIT.default(defaults.perToken),
    BEACON_RATE_LIMIT_WINDOW_SECONDS: z.coerce.number().int().min(1).max(86_400).default(60),
    BEACON_CLIENT_IP_HEADER: z.string().regex(/^[A-Za-z0-9-]{1,100}$/, "must be a header name")
      .default("cf-connecting-ip"),
  }, source) as Record<string, number | string>;
  return {
    name,
    perIp: env[`${prefix}_PER_IP`] as number,
    perToken: env[`${prefix}_PER_TOKEN`] as number,
    windowSeconds: env.BEACON_RATE_LIMIT_WINDOW_SECONDS as number,
    ipHeader: (env.BEACON_CLIENT_IP_HEADER as string).toLowerCase(),
  };
}

async function digest(token: string): Promise<string> {
  const bytes = new Uint8Array(
    await crypto.subtle.digest("SHA-256", new TextEncoder().encode(token)),
  );
  return Array.from(bytes.subarray(0, 16), (b) => b.toString(16).padStart(2, "0")).join("");
}

/**
 * Counts one request of `ip` and `token` (either may be absent); the seconds to wait when a
 * limit is spent, else null.
 */
export async function hitRateLimits(
  settings: RateLimitSettings,
  ip: string | undefined,
  token: string | undefined,
): Promise<number | null> {
  const tokenKey = token ? await digest(token) : null;
  const { name, perIp, perToken, windowSeconds } = settings;
  const [row] = await sql`
    select greatest(
      case when ${ip ?? null}::text is not null then
        private.rate_limit_hit(${`${name}:ip`}, ${ip ?? null}::text, ${perIp}::integer,
                               ${windowSeconds}::integer)
      end,
      case when ${tokenKey}::text is not null then
        private.rate_limit_hit(${`${name}:token`}, ${tokenKey}::text, ${perToken}::integer,
                               ${windowSeconds}::integer)
      end
    ) as wait`;
  return row.wait ?? null;
}

function refusal(c: Context, waitSeconds: number, advice?: string) {
  const message = `Too many requests: try again in ${waitSeconds} seconds.` +
    (advice ? ` ${advice}` : "");
  c.header("retry-after", String(waitSeconds));
  c.header("cache-control", "no-store");
  if (c.req.header("accept")?.includes("text/html")) {
    return c.html(
      `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width">
<title>Too many requests</title></head>
<body><h1>Too many requests</h1><p>${escapeHtml(message)}</p></body></html>`,
      429,
    );
  }
  return c.json({ error: "rate_limited", message, retry_after_seconds: waitSeconds }, 429);
}

let warnedNoAddress = false;

/**
 * A middleware limiting requests per client address and per `token` (e.g. a path parameter)
 * under the limit `settings` (or those of the environment, see the top of this file).
 */
export function rateLimit(
  settings: RateLimitSettings,
  options: {
    token?: (c: Context) => string | undefined;
    /** What the person can do then, after "try again in N seconds." (routes a browser opens). */
    advice?: string;
  } = {},
): MiddlewareHandler {
  return async (c, next) => {
    const ip = clientAddress(c.req.raw.headers, settings.ipHeader);
    if (!ip && !warnedNoAddress) {
      warnedNoAddress = true;
      console.warn(
        `[rate limit] no client address in ${settings.ipHeader}: requests without one are ` +
          "limited per token only; set BEACON_CLIENT_IP_HEADER to the header your proxy sets",
      );
    }
    let wait: number | null = null;
    try {
      wait = await hitRateLimits(settings, ip, options.token?.(c) || undefined);
    } catch (err) {
      console.error(`[rate limit] ${settings.name}: not checked, request let through:`, err);
    }
    if (wait !== null) return refusal(c, wait, options.advice);
    await next();
  };
}
