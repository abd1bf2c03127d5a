// Who is calling. Every function verifies bearer tokens itself (verify_jwt = false in
// config.toml): HS256 with the project's JWT secret (local stack, legacy projects) and/or
// the project's JWKS for asymmetric signing keys (ES256/RS256). Nothing trusts a token it
// has not verified; `alg: none` and any algorithm we did not configure are refused, and so is
// a token without an expiry (`exp`): a leaked token must stop working on its own.
import { createMiddleware } from "hono/factory";
import {
  createLocalJWKSet,
  createRemoteJWKSet,
  decodeProtectedHeader,
  type JSONWebKeySet,
  type JWTPayload,
  jwtVerify,
} from "jose";
import { timingSafeEqual } from "node:crypto";
import { Buffer } from "node:buffer";
import { z } from "zod";
import type { UserClaims } from "./db.ts";
import { ConfigError, readEnv } from "./env.ts";
import { HttpError } from "./http.ts";

export type AuthConfig = {
  /** HS256 secret (SUPABASE_JWT_SECRET). */
  jwtSecret?: string;
  /** The key set itself (SUPABASE_JWKS, as hosted Supabase provides it). */
  jwks?: JSONWebKeySet;
  /** Where to fetch the key set (SUPABASE_JWKS_URL). */
  jwksUrl?: string;
  /** Opaque service keys accepted as-is (SUPABASE_SECRET_KEYS values). */
  serviceKeys?: string[];
};

export type Verifier = {
  /** The claims of a signed-in user's token (aud "authenticated"), or 401. */
  user(authorization: string | undefined): Promise<UserClaims>;
  /** Passes for the service role's token or a secret key, else 401. */
  service(authorization: string | undefined): Promise<void>;
};

const ASYMMETRIC = ["ES256", "RS256"];

const unauthorized = (message: string) => new HttpError(401, "unauthorized", message);

function bearer(authorization: string | undefined): string {
  const match = /^Bearer\s+(\S+)$/i.exec(authorization ?? "");
  if (!match) throw unauthorized("Send the token as 'Authorization: Bearer <jwt>'.");
  return match[1];
}

const sameSecret = (a: string, b: string) => {
  const left = Buffer.from(a);
  const right = Buffer.from(b);
  return left.length === right.length && timingSafeEqual(left, right);
};

export function createVerifier(config: AuthConfig): Verifier {
  const secret = config.jwtSecret ? new TextEncoder().encode(config.jwtSecret) : undefined;
  const keySet = config.jwks
    ? createLocalJWKSet(config.jwks)
    : config.jwksUrl
    ? createRemoteJWKSet(new URL(config.jwksUrl))
    : undefined;
  if (!secret && !keySet) {
    throw new ConfigError(
      "configuration: set SUPABASE_JWT_SECRET (HS256) or SUPABASE_JWKS / SUPABASE_JWKS_URL",
    );
  }

  async function verify(token: string, audience?: string): Promise<JWTPayload> {
    let alg: string | undefined;
    try {
      alg = decodeProtectedHeader(token).alg;
    } catch {
      throw unauthorized("The token is not a JWT.");
    }
    const options = { audience, clockTolerance: 5, requiredClaims: ["exp"] };
    try {
      if (alg === "HS256" && secret) {
        return (await jwtVerify(token, secret, { ...options, algorithms: ["HS256"] })).payload;
      }
      if (alg && ASYMMETRIC.includes(alg) && keySet) {
        return (await jwtVerify(token, keySet, { ...options, algorithms: ASYMMETRIC })).payload;
      }
    } catch (err) {
      throw unauthorized(`The token was refused: ${reason(err)}.`);
    }
    throw unauthorized(`Tokens signed with ${alg ?? "no algorithm"} are not accepted.`);
  }

  return {
    async user(authorization) {
      const payload = await verify(bearer(authorization), "authenticated");
      if (payload.role !== "authenticated" || !z.uuid().safeParse(payload.sub).success) {
        throw unauthorized("The token is not a signed-in user's token.");
      }
      return payload as UserClaims;
    },
    async service(authorization) {
      const token = bearer(authorization);
      if (config.serviceKeys?.some((key) => sameSecret(key, token))) return;
      const payload = await verify(token);
      if (payload.role !== "service_role") {
        throw unauthorized("This route is for the service role only.");
      }
    },
  };
}

function reason(err: unknown): string {
  const code = (err as { code?: string }).code;
  switch (code) {
    case "ERR_JWT_EXPIRED":
      return "it has expired";
    case "ERR_JWT_CLAIM_VALIDATION_FAILED": {
      const { claim, reason } = err as { claim?: string; reason?: string };
      return claim === "exp" && reason === "missing"
        ? "it has no expiry (exp claim); sign tokens with an expiry"
        : `claim ${claim} is not valid`;
    }
    case "ERR_JWS_SIGNATURE_VERIFICATION_FAILED":
      return "the signature does not match";
    case "ERR_JWKS_NO_MATCHING_KEY":
      return "no key in the key set matches it";
    default:
      return "it could not be verified";
  }
}

function fromEnv(): AuthConfig {
  const env = readEnv({
    SUPABASE_JWT_SECRET: z.string().min(32, "must be at least 32 characters").optional(),
    SUPABASE_JWKS: z.string().optional(),
    SUPABASE_JWKS_URL: z.url().optional(),
    SUPABASE_SECRET_KEYS: z.string().optional(),
  });
  const json = <T>(name: string, text: string | undefined, schema: z.ZodType<T>) => {
    if (text === undefined) return undefined;
    try {
      return schema.parse(JSON.parse(text));
    } catch {
      throw new ConfigError(`configuration: ${name} is not valid JSON of the expected shape`);
    }
  };
  return {
    jwtSecret: env.SUPABASE_JWT_SECRET,
    jwks: json("SUPABASE_JWKS", env.SUPABASE_JWKS, z.object({ keys: z.array(z.any()) })),
    jwksUrl: env.SUPABASE_JWKS_URL,
    serviceKeys: Object.values(
      json("SUPABASE_SECRET_KEYS", env.SUPABASE_SECRET_KEYS, z.record(z.string(), z.string())) ??
        {},
    ),
  };
}

export const verifier: Verifier = createVerifier(fromEnv());

/** Middleware: the route needs a signed-in user; their claims are `c.get("user")`. */
export const requireUser = createMiddleware<{ Variables: { user: UserClaims } }>(
  async (c, next) => {
    c.set("user", await verifier.user(c.req.header("authorization")));
    await next();
  },
);

/** Middleware: the route is for the service role (cron, the local stack's loop, operators). */
export const requireService = createMiddleware(async (c, next) => {
  await verifier.service(c.req.header("authorization"));
  await next();
});
