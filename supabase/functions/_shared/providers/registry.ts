// The adapters by platform, built from configuration: a platform without a client id and
// secret has no adapter, only the names of the settings it lacks.
import {
  type ConfiguredPlatform,
  type Platform,
  type PlatformConfig,
  PLATFORMS,
  readPlatformConfig,
} from "./config.ts";
import { facebookProvider } from "./facebook.ts";
import { instagramProvider } from "./instagram.ts";
import { linkedinProvider } from "./linkedin.ts";
import type { Provider } from "./oauth.ts";
import { twitterProvider } from "./twitter.ts";

const ADAPTERS: Record<Platform, (config: ConfiguredPlatform) => Provider> = {
  twitter: twitterProvider,
  linkedin: linkedinProvider,
  facebook: facebookProvider,
  instagram: instagramProvider,
};

export type ProviderSlot = { config: PlatformConfig; provider?: Provider };

/** One slot per platform; `provider` is set where the platform is configured. */
export function createProviders(
  env: Record<string, string> = Deno.env.toObject(),
): Record<Platform, ProviderSlot> {
  return Object.fromEntries(PLATFORMS.map((platform) => {
    const config = readPlatformConfig(platform, env);
    const provider = config.client ? ADAPTERS[platform](config as ConfiguredPlatform) : undefined;
    return [platform, { config, provider }];
  })) as Record<Platform, ProviderSlot>;
}
