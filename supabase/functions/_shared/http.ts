// The HTTP shell every edge function shares: a Hono app mounted at the function's own path,
// CORS for browser callers, a request id on every response, and one error handler that turns
// every failure into a JSON body `{ error, message, ... }` without a stack trace.
import { type Context, Hono } from "hono";
import { cors } from "hono/cors";
import { HTTPException } from "hono/http-exception";
import { requestId, type RequestIdVariables } from "hono/request-id";
import { PatternRouter } from "hono/router/pattern-router";
import type { ContentfulStatusCode } from "hono/utils/http-status";
import { z } from "zod";

/** What every function's context carries: `c.get("requestId")`. */
export type AppEnv = { Variables: RequestIdVariables };

/** An error a route throws on purpose: answered with its status and a machine-readable code. */
export class HttpError extends Error {
  constructor(
    readonly status: ContentfulStatusCode,
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = "HttpError";
  }
}

/** Where a request value comes from; prefixed to field names in 400 answers. */
type Source = "body" | "query" | "params";

/** A zod failure on a request value, answered 400 with the fields named `source.path`. */
class InvalidRequest extends Error {
  constructor(readonly source: Source | undefined, readonly issues: z.core.$ZodIssue[]) {
    super("invalid request");
  }
}

/** The JSON body, parsed with `schema`; a body that is not JSON answers 400 `invalid_json`. */
export async function readJson<S extends z.ZodType>(c: Context, schema: S): Promise<z.output<S>> {
  let value: unknown;
  try {
    value = await c.req.json();
  } catch {
    throw new HttpError(400, "invalid_json", "The request body must be valid JSON.");
  }
  return check("body", schema, value);
}

/** The query string (one value per key), parsed with `schema`. */
export function readQuery<S extends z.ZodType>(c: Context, schema: S): z.output<S> {
  return check("query", schema, c.req.query());
}

/** The route's path parameters, parsed with `schema`. */
export function readParams<S extends z.ZodType>(c: Context, schema: S): z.output<S> {
  return check("params", schema, c.req.param());
}

function check<S extends z.ZodType>(source: Source, schema: S, value: unknown): z.output<S> {
  const result = schema.safeParse(value);
  if (!result.success) throw new InvalidRequest(source, result.error.issues);
  return result.data;
}

const fieldName = (source: Source | undefined, path: PropertyKey[]) =>
  [source, ...path.map(String)].filter(Boolean).join(".") || "(request)";

function invalid(c: Context, source: Source | undefined, issues: z.core.$ZodIssue[]) {
  const fields = issues.map((issue) => ({
    field: fieldName(source, issue.path),
    message: issue.message,
  }));
  const message = fields.map((f) => `${f.field}: ${f.message}`).join("; ");
  return c.json({ error: "invalid_request", message, fields }, 400);
}

const METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE"];

/** The methods that have a route at `path` (middleware registered for every method excluded). */
function allowedMethods(app: Hono<AppEnv>, path: string): string[] {
  const router = new PatternRouter<true>();
  for (const route of app.routes) {
    if (route.method !== "ALL") router.add(route.method, route.path, true);
  }
  return METHODS.filter((method) => router.match(method, path)[0].length > 0);
}

/**
 * A Hono app for the edge function `name`. Supabase hands a function the path `/<name>/...`
 * (the `/functions/v1` prefix is already gone), so routes are declared relative to it:
 * `createApp("forms").post("/submit", ...)` answers `POST /functions/v1/forms/submit`.
 */
export function createApp(name: string): Hono<AppEnv> {
  // Middleware goes on the root, not under the base path, so stray paths get CORS headers too.
  const root = new Hono<AppEnv>();
  root.use("*", requestId());
  root.use(
    "*",
    cors({
      origin: "*",
      allowHeaders: ["authorization", "x-client-info", "apikey", "content-type", "x-beacon-key"],
      allowMethods: ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"],
      exposeHeaders: ["X-Request-Id"],
      maxAge: 86400,
    }),
  );
  const app = root.basePath(`/${name}`);

  app.notFound((c) => {
    const allowed = allowedMethods(app, c.req.path);
    if (allowed.length > 0) {
      c.header("Allow", allowed.join(", "));
      return c.json({
        error: "method_not_allowed",
        message: `${c.req.method} is not allowed on ${c.req.path}; use ${allowed.join(" or ")}.`,
        allowed,
      }, 405);
    }
    return c.json({
      error: "not_found",
      message: `No route for ${c.req.method} ${c.req.path}.`,
    }, 404);
  });

  app.onError((err, c) => {
    if (err instanceof InvalidRequest) return invalid(c, err.source, err.issues);
    if (err instanceof z.core.$ZodError) return invalid(c, undefined, err.issues);
    if (err instanceof HttpError) {
      return c.json({ error: err.code, message: err.message }, err.status);
    }
    if (err instanceof HTTPException && err.status < 500) {
      const status = err.status as ContentfulStatusCode;
      return c.json({ error: "http_error", message: err.message || `HTTP ${status}` }, status);
    }
    const id = c.get("requestId");
    console.error(`[${name}] request ${id} failed:`, err);
    return c.json({
      error: "internal_error",
      message: "Something went wrong on our side; quote the request id if you report it.",
      request_id: id,
    }, 500);
  });

  return app;
}
