// One publisher per platform, each at its platform's API base (providers/config.ts: the real
// host by default, the fakes in tests and on the local stack).
import { type Platform, readPlatformConfig } from "../providers/config.ts";
import { facebookPublisher } from "./facebook.ts";
import { instagramPublisher } from "./instagram.ts";
import { linkedinPublisher } from "./linkedin.ts";
import type { Publisher } from "./outcome.ts";
import { readSocialSettings, type SocialSettings } from "./settings.ts";
import { xPublisher } from "./x.ts";

const PUBLISHERS: Record<Platform, (api: string, settings: SocialSettings) => Publisher> = {
  twitter: xPublisher,
  linkedin: linkedinPublisher,
  facebook: facebookPublisher,
  instagram: instagramPublisher,
};

export type Publishers = Record<Platform, Publisher>;

export function createPublishers(
  env: Record<string, string> = Deno.env.toObject(),
  settings: SocialSettings = readSocialSettings(env),
): Publishers {
  return Object.fromEntries(
    Object.entries(PUBLISHERS).map(([platform, make]) => [
      platform,
      make(readPlatformConfig(platform as Platform, env).endpoints.api, settings),
    ]),
  ) as Publishers;
}
