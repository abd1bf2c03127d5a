// collect: events from websites and apps, authenticated by an owner's publishable write key
// (public.create_write_key). No login; the key only lets its holder add events.
//
//   POST    /functions/v1/collect            one event, or {"batch": [...]} of up to 500
//   OPTIONS /functions/v1/collect            CORS preflight (any origin)
//   GET     /functions/v1/collect/beacon.js  the browser snippet (see beacon_js.ts)
//
// The key goes in `Authorization: Bearer <key>`, `x-beacon-key: <key>`, `?key=<key>`, or the
// body's "write_key" (navigator.sendBeacon cannot set headers and sends text/plain, which is
// read as JSON all the same). Each event is checked on its own (events.ts): the answer is
// 200 {"accepted", "duplicates", "dropped", "rejected": [{"index", "error"}], "honor_privacy_signals"}
// when at least one event was accepted, else 400 with the same fields. The request's events
// are written by one call of private.collect_events (one statement, one round trip).
//
// Limits: the body is at most 512 KiB (413), each event's properties 32 KiB (rejected with
// the reason), requests per key and per client address per window (429 + Retry-After;
// BEACON_RATE_LIMIT_COLLECT_PER_TOKEN / _PER_IP, see _shared/rate_limit.ts).
import type { Context } from "hono";
import { bodyLimit } from "hono/body-limit";
import postgres from "postgres";
import { z } from "zod";
import { createApp, HttpError } from "../_shared/http.ts";
import {
  clientAddress,
  hitRateLimits,
  type RateLimitSettings,
  readRateLimitSettings,
} from "../_shared/rate_limit.ts";
import { BEACON_JS } from "./beacon_js.ts";
import { parseEvent } from "./events.ts";
import { type Collected, collectEvents } from "./queries.ts";

export const MAX_BODY_BYTES = 512 * 1024;
export const MAX_BATCH = 500;

const KEY = /^bk_pub_[0-9a-f]{48}$/;

const Envelope = z.object({
  write_key: z.string({ error: "must be a string (your bk_pub_ key)" })
    .optional(),
  privacy_signal: z.boolean({ error: "must be true or false" }).optional(),
  batch: z.array(z.unknown(), { error: "must be an array of events" })
    .min(1, "must hold at least one event")
    .max(MAX_BATCH, `must hold at most ${MAX_BATCH} events; split it`)
    .optional(),
});

const unauthorized = (message: string) => new HttpError(401, "invalid_write_key", message);

/** The write key from the header, the query or the body, in that order. */
function writeKey(c: Context, body: { write_key?: string }): string {
  const bearer = c.req.header("authorization")?.match(/^Bearer\s+(\S+)$/i)?.[1];
  const key = bearer ?? c.req.header("x-beacon-key") ?? c.req.query("key") ??
    body.write_key;
  if (!key) {
    throw unauthorized(
      "A write key is required: send it as Authorization: Bearer <key>, x-beacon-key, ?key= or " +
        'the body\'s "write_key" (create one with create_write_key).',
    );
  }
  if (!KEY.test(key)) {
    throw unauthorized(
      "The write key is malformed: it looks like bk_pub_<48 hex>.",
    );
  }
  return key;
}

async function readBody(c: Context): Promise<Record<string, unknown>> {
  let value: unknown;
  try {
    value = JSON.parse(await c.req.text());
  } catch {
    throw new HttpError(
      400,
      "invalid_json",
      'The request body must be JSON (an event or {"batch": [...]}).',
    );
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw new HttpError(
      400,
      "invalid_body",
      'The body must be one event (an object) or {"batch": [...]}, not an array or a scalar.',
    );
  }
  return value as Record<string, unknown>;
}

/** The collect app, limited by `limits` (the environment's by default). */
export function createCollectApp(
  limits: RateLimitSettings = readRateLimitSettings("collect", {
    perIp: 600,
    perToken: 6000,
  }),
) {
  const app = createApp("collect");

  app.get("/beacon.js", (c) =>
    c.body(BEACON_JS, 200, {
      "content-type": "text/javascript; charset=utf-8",
      "cache-control": "public, max-age=3600, stale-while-revalidate=86400",
      "x-content-type-options": "nosniff",
    }));

  app.post(
    "/",
    bodyLimit({
      maxSize: MAX_BODY_BYTES,
      onError: (c) =>
        c.json({
          error: "payload_too_large",
          message: `The body is over ${MAX_BODY_BYTES} bytes (512 KiB): send smaller batches.`,
        }, 413),
    }),
    async (c) => {
      const raw = await readBody(c);
      const { batch, write_key, privacy_signal, ...single } = raw;
      const envelope = Envelope.parse({ batch, write_key, privacy_signal });
      const key = writeKey(c, envelope);

      const ip = clientAddress(c.req.raw.headers, limits.ipHeader);
      let wait: number | null = null;
      try {
        wait = await hitRateLimits(limits, ip, key);
      } catch (err) {
        console.error(
          "[collect] rate limit not checked, request let through:",
          err,
        );
      }
      if (wait !== null) {
        c.header("retry-after", String(wait));
        return c.json({
          error: "rate_limited",
          message: `Too many requests for this write key: try again in ${wait} seconds.`,
          retry_after_seconds: wait,
        }, 429);
      }

      const items = envelope.batch ?? [single];
      const accepted: string[] = [];
      const rejected: { index: number; error: string }[] = [];
      items.forEach((item, index) => {
        const parsed = parseEvent(item);
        if ("json" in parsed) accepted.push(parsed.json);
        else rejected.push({ index, error: parsed.error });
      });
      if (accepted.length === 0) {
        return c.json({
          error: "invalid_events",
          message: `No event was accepted: ${
            rejected.map((r) => `[${r.index}] ${r.error}`).join("; ")
          }`,
          accepted: 0,
          rejected,
        }, 400);
      }

      const signal = c.req.header("dnt") === "1" ||
        c.req.header("sec-gpc") === "1" ||
        envelope.privacy_signal === true;
      const userAgent = c.req.header("user-agent")?.slice(0, 1000) ?? null;
      const events = `[${accepted.join(",")}]`;
      const client = ip ?? null;
      let result: Collected;
      try {
        result = await collectEvents(key, events, client, userAgent, signal);
      } catch (err) {
        if (err instanceof postgres.PostgresError && err.code === "28000") {
          throw unauthorized("The write key is unknown or revoked.");
        }
        throw err;
      }
      c.header("cache-control", "no-store");
      return c.json({
        accepted: result.accepted,
        duplicates: result.duplicates,
        dropped: result.dropped,
        rejected,
        honor_privacy_signals: result.honor_privacy_signals,
      });
    },
  );

  return app;
}

export const app = createCollectApp();
