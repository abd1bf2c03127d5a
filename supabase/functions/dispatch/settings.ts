// The dispatcher's settings: the email settings it shares (tracking, sender, Resend) and its
// own tuning, all from the environment with defaults that suit a pg_net call every minute.
//   BEACON_DISPATCH_BUDGET_SECONDS  stop claiming after this long (25)
//   BEACON_DISPATCH_CONCURRENCY     lanes claiming and sending side by side (4)
//   BEACON_DISPATCH_CHUNKS          chunks (<= 100 messages each) per claim (5)
//   BEACON_RESEND_RATE              Resend calls per second per API key (2, Resend's default)
//   BEACON_WEBHOOK_TIMEOUT_SECONDS  how long a workflow webhook's receiver may take (10)
//   BEACON_WEBHOOK_ALLOW_PRIVATE_HOSTS  true: webhooks may go to loopback, private and other
//                                   reserved addresses (local stacks and tests only; default
//                                   false: every address a host resolves to must be public)
//   BEACON_WEBHOOK_CA_FILE          a PEM file of extra CAs trusted for receivers (optional)
//   BEACON_DISPATCH_SOCIAL_CONCURRENCY  social posts published side by side (8)
//   BEACON_DISPATCH_SOCIAL_BATCH    social posts (or metrics) per claim (50)
// The platforms' endpoints and client ids are _shared/providers/config.ts's, the publishers'
// own settings (BEACON_LINKEDIN_VERSION...) _shared/social/settings.ts's.
import { z } from "zod";
import { readSenderSettings, readTrackingSettings } from "../_shared/email/settings.ts";
import { ConfigError, readEnv } from "../_shared/env.ts";
import { createProviders } from "../_shared/providers/registry.ts";
import { createPublishers } from "../_shared/social/publishers.ts";
import type { DispatchSettings } from "./dispatcher.ts";
import { systemResolver } from "./receivers.ts";

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
    BEACON_WEBHOOK_TIMEOUT_SECONDS: z.coerce.number().min(1).max(30).default(
      10,
    ),
    BEACON_WEBHOOK_ALLOW_PRIVATE_HOSTS: z.enum(["true", "false"]).default(
      "false",
    ),
    BEACON_WEBHOOK_CA_FILE: z.string().optional(),
    BEACON_DISPATCH_SOCIAL_CONCURRENCY: z.coerce.number().int().min(1).max(64)
      .default(8),
    BEACON_DISPATCH_SOCIAL_BATCH: z.coerce.number().int().min(1).max(500)
      .default(50),
  }, source);
  return {
    tracking: readTrackingSettings(source),
    sender: readSenderSettings(source),
    budgetMs: env.BEACON_DISPATCH_BUDGET_SECONDS * 1000,
    concurrency: env.BEACON_DISPATCH_CONCURRENCY,
    maxChunks: env.BEACON_DISPATCH_CHUNKS,
    leaseSeconds: 120,
    resendRate: env.BEACON_RESEND_RATE,
    webhooks: {
      timeoutMs: env.BEACON_WEBHOOK_TIMEOUT_SECONDS * 1000,
      allowPrivateHosts: env.BEACON_WEBHOOK_ALLOW_PRIVATE_HOSTS === "true",
      caCerts: env.BEACON_WEBHOOK_CA_FILE ? [readCaFile(env.BEACON_WEBHOOK_CA_FILE)] : [],
      resolve: systemResolver,
    },
    social: {
      publishers: createPublishers(source),
      providers: createProviders(source),
      concurrency: env.BEACON_DISPATCH_SOCIAL_CONCURRENCY,
      batch: env.BEACON_DISPATCH_SOCIAL_BATCH,
    },
  };
}

function readCaFile(path: string): string {
  try {
    return Deno.readTextFileSync(path);
  } catch (err) {
    throw new ConfigError(
      `configuration: BEACON_WEBHOOK_CA_FILE ${path} cannot be read: ${(err as Error).message}`,
    );
  }
}
