// The publishers' settings, from the environment:
//   BEACON_LINKEDIN_VERSION        the LinkedIn-Version header (providers/config.ts)
//   BEACON_SOCIAL_TIMEOUT_SECONDS  how long one platform call may take (20)
//   BEACON_SOCIAL_MEDIA_MAX_MB     largest media file fetched for an upload (X) (16)
//   BEACON_SOCIAL_ALLOW_LOOPBACK_MEDIA  true: media may come from http:// on 127.0.0.1 (the
//                                  local fakes; never in production)
import { z } from "zod";
import { readEnv } from "../env.ts";
import { isLoopbackHttp, linkedinSettings } from "../providers/config.ts";

export type SocialSettings = {
  linkedinVersion?: string;
  timeoutMs: number;
  mediaMaxBytes: number;
  allowLoopbackMedia: boolean;
  /** Instagram: how often and how many times a container's status_code is read. */
  containerPollMs: number;
  containerPolls: number;
  /** X: the segment size of a chunked media upload (X takes up to 5 MB a segment). */
  xChunkBytes: number;
};

export function readSocialSettings(
  source: Record<string, string> = Deno.env.toObject(),
): SocialSettings {
  const env = readEnv({
    BEACON_SOCIAL_TIMEOUT_SECONDS: z.coerce.number().min(0.1).max(60).default(20),
    BEACON_SOCIAL_MEDIA_MAX_MB: z.coerce.number().min(1).max(512).default(16),
    BEACON_SOCIAL_ALLOW_LOOPBACK_MEDIA: z.enum(["true", "false"]).default("false"),
  }, source);
  return {
    linkedinVersion: linkedinSettings(source).version,
    timeoutMs: env.BEACON_SOCIAL_TIMEOUT_SECONDS * 1000,
    mediaMaxBytes: env.BEACON_SOCIAL_MEDIA_MAX_MB * 1024 * 1024,
    allowLoopbackMedia: env.BEACON_SOCIAL_ALLOW_LOOPBACK_MEDIA === "true",
    containerPollMs: 1000,
    containerPolls: 10,
    xChunkBytes: 4 * 1024 * 1024,
  };
}

/** The bytes behind a media URL, for platforms that take uploads rather than URLs. */
export async function fetchMedia(
  url: string,
  settings: SocialSettings,
): Promise<{ blob: Blob } | { failed: string }> {
  if (!url.startsWith("https://") && !(settings.allowLoopbackMedia && isLoopbackHttp(url))) {
    return { failed: `media ${url} must be an https:// URL` };
  }
  try {
    const response = await fetch(url, {
      redirect: "error",
      signal: AbortSignal.timeout(settings.timeoutMs),
    });
    if (!response.ok) return { failed: `media ${url} answered ${response.status}` };
    const blob = await response.blob();
    if (blob.size > settings.mediaMaxBytes) {
      return { failed: `media ${url} is larger than ${settings.mediaMaxBytes} bytes` };
    }
    return { blob };
  } catch (err) {
    return { failed: `media ${url} could not be fetched: ${(err as Error).message}` };
  }
}
