// Email settings from the environment, one reader per concern so a function parses only what
// it uses (and fails at start naming what is missing):
//   tracking (dispatch, track):  BEACON_TRACKING_SECRET, BEACON_TRACKING_URL | SUPABASE_URL
//   sending (dispatch):          BEACON_EMAIL_FROM, BEACON_POSTAL_ADDRESS, RESEND_API_KEY,
//                                RESEND_API_URL, BEACON_OUTBOX_DIR
import { z } from "zod";
import { readEnv } from "../env.ts";
import { importTrackingKey, type TrackingKey } from "./tokens.ts";

export type TrackingSettings = {
  /** Where the track function answers, e.g. https://<ref>.supabase.co/functions/v1/track. */
  baseUrl: string;
  key: TrackingKey;
};

export type SenderSettings = {
  /** Default sender, `Name <address>` or a bare address, when a campaign names none. */
  from: string;
  /** The sender's postal address, printed in every message's footer. */
  postalAddress: string;
  /** The platform's Resend key; absent: messages go to the outbox unless the user has one. */
  resendApiKey?: string;
  resendApiUrl: string;
  /** Where messages go when there is no Resend key at all: readable .eml files. */
  outboxDir: string;
};

const httpUrl = z.url({
  protocol: /^https?$/,
  error: "must be an http(s) URL",
});

export function readTrackingSettings(
  source: Record<string, string> = Deno.env.toObject(),
): TrackingSettings {
  const env = readEnv({
    BEACON_TRACKING_SECRET: z.string().min(
      32,
      "must be at least 32 characters",
    ),
    BEACON_TRACKING_URL: httpUrl.optional(),
    // Hosted Supabase always sets SUPABASE_URL; the local stack's is the default.
    SUPABASE_URL: httpUrl.default("http://127.0.0.1:54321"),
  }, source);
  const baseUrl = env.BEACON_TRACKING_URL ??
    `${env.SUPABASE_URL.replace(/\/+$/, "")}/functions/v1/track`;
  return {
    baseUrl: baseUrl.replace(/\/+$/, ""),
    key: importTrackingKey(env.BEACON_TRACKING_SECRET),
  };
}

/** `Name <address>` or `address`. */
const MAILBOX = /^(?:[^<>\r\n]*<[^<>\s@]+@[^<>\s@]+\.[^<>\s@]+>|[^<>\s@]+@[^<>\s@]+\.[^<>\s@]+)$/;

export function readSenderSettings(
  source: Record<string, string> = Deno.env.toObject(),
): SenderSettings {
  const env = readEnv({
    BEACON_EMAIL_FROM: z.string().trim().regex(
      MAILBOX,
      "must be an address or `Name <address>`, e.g. Beacon <news@example.com>",
    ),
    BEACON_POSTAL_ADDRESS: z.string().trim().min(
      5,
      "must be the sender's postal address",
    ),
    RESEND_API_KEY: z.string().trim().min(1).optional(),
    RESEND_API_URL: httpUrl.default("https://api.resend.com"),
    BEACON_OUTBOX_DIR: z.string().default(".local/outbox"),
  }, source);
  return {
    from: env.BEACON_EMAIL_FROM,
    postalAddress: env.BEACON_POSTAL_ADDRESS,
    resendApiKey: env.RESEND_API_KEY,
    resendApiUrl: env.RESEND_API_URL.replace(/\/+$/, ""),
    outboxDir: env.BEACON_OUTBOX_DIR,
  };
}
