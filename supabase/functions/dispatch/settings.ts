// The dispatcher's settings: the email settings it shares (tracking, sender, Resend) and its
// own tuning, all from the environment with defaults that suit a pg_net call every minute.
//   BEACON_DISPATCH_BUDGET_SECONDS  stop claiming after this long (25)
//   BEACON_DISPATCH_CONCURRENCY     lanes claiming and sending side by side (4)
//   BEACON_DISPATCH_CHUNKS          chunks (<= 100 messages each) per claim (5)
//   BEACON_RESEND_RATE              Resend calls per second per API key (2, Resend's default)
import { z } from "zod";
import { readSenderSettings, readTrackingSettings } from "../_shared/email/settings.ts";
import { readEnv } from "../_shared/env.ts";
import type { DispatchSettings } from "./dispatcher.ts";

export function readDispatchSettings(
  source: Record<string, string> = Deno.env.toObject(),
): DispatchSettings {
  const env = readEnv({
    BEACON_DISPATCH_BUDGET_SECONDS: z.coerce.number().min(1).max(55).default(
      25,
    ),
    BEACON_DISPATCH_CONCURRENCY: z.coerce.number().int().min(1).max(16).default(
      4,
    ),
    BEACON_DISPATCH_CHUNKS: z.coerce.number().int().min(1).max(50).default(5),
    BEACON_RESEND_RATE: z.coerce.number().min(0.1).max(10_000).default(2),
  }, source);
  return {
    tracking: readTrackingSettings(source),
    sender: readSenderSettings(source),
    budgetMs: env.BEACON_DISPATCH_BUDGET_SECONDS * 1000,
    concurrency: env.BEACON_DISPATCH_CONCURRENCY,
    maxChunks: env.BEACON_DISPATCH_CHUNKS,
    leaseSeconds: 120,
    resendRate: env.BEACON_RESEND_RATE,
  };
}
