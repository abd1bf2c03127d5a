// X (API v2): media first through the v2 media upload (POST /2/media/upload, multipart, one
// file per call → {"data": {"id"}}), then POST /2/tweets {"text", "media": {"media_ids"}} →
// 201 {"data": {"id", "text"}}. Rate limits: 429 with x-rate-limit-reset (Unix seconds).
// Recent posts: GET /2/users/{id}/tweets; metrics: GET /2/tweets/{id}?tweet.fields=public_metrics.
import {
  type Answer,
  call,
  count,
  failure,
  isSamePost,
  malformed,
  type MetricsTarget,
  type Published,
  type Publisher,
  type PublishOutcome,
  type PublishTarget,
  secondsUntil,
  text,
} from "./outcome.ts";
import { retryAfterSeconds } from "../retry_after.ts";
import { fetchMedia, type SocialSettings } from "./settings.ts";

const rateLimitSeconds = (answer: Answer) => {
  const reset = Number(answer.headers.get("x-rate-limit-reset"));
  return reset > 0 ? secondsUntil(reset) : retryAfterSeconds(answer.headers);
};

export function xPublisher(api: string, settings: SocialSettings): Publisher {
  const auth = (token: string) => ({ authorization: `Bearer ${token}` });
  const fail = (answer: Parameters<typeof failure>[1], sent: boolean) =>
    failure("X", answer, { sent, rateLimitSeconds });

  /** Uploads each media URL; the media ids, or the outcome that stopped it. */
  async function upload(target: PublishTarget): Promise<string[] | PublishOutcome> {
    const ids: string[] = [];
    for (const url of target.mediaUrls) {
      const media = await fetchMedia(url, settings);
      if ("failed" in media) return { kind: "failed", message: `X: ${media.failed}` };
      const form = new FormData();
      form.set("media", media.blob, "media");
      form.set(
        "media_category",
        media.blob.type.startsWith("video/") ? "tweet_video" : "tweet_image",
      );
      const answer = await call(`${api}/2/media/upload`, {
        method: "POST",
        headers: auth(target.accessToken),
        body: form,
      }, settings.timeoutMs);
      if ("lost" in answer || answer.status >= 300) return fail(answer, false);
      const id = text(answer.body, "data", "id");
      if (!id) return malformed("X", "the media upload");
      ids.push(id);
    }
    return ids;
  }

  const link = (id: string): Published => ({ id, url: `https://x.com/i/web/status/${id}` });

  return {
    async publish(target) {
      const mediaIds = await upload(target);
      if (!Array.isArray(mediaIds)) return mediaIds;
      const answer = await call(`${api}/2/tweets`, {
        method: "POST",
        headers: { ...auth(target.accessToken), "content-type": "application/json" },
        body: JSON.stringify({
          text: target.text,
          ...(mediaIds.length ? { media: { media_ids: mediaIds } } : {}),
        }),
      }, settings.timeoutMs);
      if ("lost" in answer || answer.status >= 300) return fail(answer, true);
      const id = text(answer.body, "data", "id");
      return id
        ? { kind: "published", ...link(id) }
        : { kind: "maybe_posted", message: "X answered without an id" };
    },

    async findRecent(target) {
      const url = new URL(`${api}/2/users/${encodeURIComponent(target.platformUserId)}/tweets`);
      url.searchParams.set("max_results", "20");
      const answer = await call(url, { headers: auth(target.accessToken) }, settings.timeoutMs);
      if ("lost" in answer || answer.status >= 300) return fail(answer, false);
      const posts = (answer.body as { data?: { id?: unknown; text?: unknown }[] }).data ?? [];
      const match = posts.find((post) => isSamePost(target, post.text));
      return typeof match?.id === "string" ? link(match.id) : undefined;
    },

    async metrics(target: MetricsTarget) {
      const url = new URL(`${api}/2/tweets/${encodeURIComponent(target.postId)}`);
      url.searchParams.set("tweet.fields", "public_metrics");
      const answer = await call(url, { headers: auth(target.accessToken) }, settings.timeoutMs);
      if ("lost" in answer || answer.status >= 300) return fail(answer, false);
      const m = ["data", "public_metrics"];
      return {
        likes: count(answer.body, ...m, "like_count"),
        replies: count(answer.body, ...m, "reply_count"),
        reposts: count(answer.body, ...m, "retweet_count"),
        impressions: count(answer.body, ...m, "impression_count"),
      };
    },
  };
}
