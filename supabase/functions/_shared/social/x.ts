// X (API v2): media first through the v2 media upload, then POST /2/tweets {"text", "media":
// {"media_ids"}} → 201 {"data": {"id", "text"}}. Rate limits: 429 with x-rate-limit-reset
// (Unix seconds). Media:
//   an image: POST /2/media/upload (multipart media, media_category tweet_image) → {"data": {"id"}}
//   a video or GIF, which X takes only in chunks and processes before it can be posted:
//     POST /2/media/upload/initialize {"media_type", "total_bytes", "media_category"} → {"data": {"id"}}
//     POST /2/media/upload/{id}/append (multipart media, segment_index), one per 4 MB segment
//     POST /2/media/upload/{id}/finalize → {"data": {"processing_info": {"state", "check_after_secs"}}}
//     GET  /2/media/upload?command=STATUS&media_id={id} until the state is succeeded (or failed,
//          which fails the target with X's reason)
// Recent posts: GET /2/users/{id}/tweets?tweet.fields=created_at; metrics:
// GET /2/tweets/{id}?tweet.fields=public_metrics.
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
  sleep,
  text,
  transient,
} from "./outcome.ts";
import { retryAfterSeconds } from "../retry_after.ts";
import { fetchMedia, type SocialSettings } from "./settings.ts";

type ProcessingInfo = {
  state?: "pending" | "in_progress" | "succeeded" | "failed";
  check_after_secs?: number;
  error?: { message?: string };
};

const rateLimitSeconds = (answer: Answer) => {
  const reset = Number(answer.headers.get("x-rate-limit-reset"));
  return reset > 0 ? secondsUntil(reset) : retryAfterSeconds(answer.headers);
};

export function xPublisher(api: string, settings: SocialSettings): Publisher {
  const auth = (token: string) => ({ authorization: `Bearer ${token}` });
  const fail = (answer: Parameters<typeof failure>[1], sent: boolean) =>
    failure("X", answer, { sent, rateLimitSeconds });

  const post = (path: string, token: string, body: FormData | string) =>
    call(`${api}/2/media/upload${path}`, {
      method: "POST",
      headers: {
        ...auth(token),
        ...(typeof body === "string" ? { "content-type": "application/json" } : {}),
      },
      body,
    }, settings.timeoutMs);

  /** An image in one call; its media id, or the outcome that stopped it. */
  async function uploadImage(blob: Blob, token: string): Promise<string | PublishOutcome> {
    const form = new FormData();
    form.set("media", blob, "media");
    form.set("media_category", "tweet_image");
    const answer = await post("", token, form);
    if ("lost" in answer || answer.status >= 300) return fail(answer, false);
    return text(answer.body, "data", "id") ?? malformed("X", "the media upload");
  }

  /** A video or GIF in chunks, then X's processing; its media id, or the outcome that stopped it. */
  async function uploadChunked(blob: Blob, token: string): Promise<string | PublishOutcome> {
    const init = await post(
      "/initialize",
      token,
      JSON.stringify({
        media_type: blob.type,
        total_bytes: blob.size,
        media_category: blob.type === "image/gif" ? "tweet_gif" : "tweet_video",
      }),
    );
    if ("lost" in init || init.status >= 300) return fail(init, false);
    const id = text(init.body, "data", "id");
    if (!id) return malformed("X", "the media upload's initialize");
    for (
      let offset = 0, segment = 0;
      offset < blob.size;
      offset += settings.xChunkBytes, segment++
    ) {
      const form = new FormData();
      form.set("media", blob.slice(offset, offset + settings.xChunkBytes), "media");
      form.set("segment_index", String(segment));
      const append = await post(`/${id}/append`, token, form);
      if ("lost" in append || append.status >= 300) return fail(append, false);
    }
    let answer = await post(`/${id}/finalize`, token, new FormData());
    for (let poll = 0;; poll++) {
      if ("lost" in answer || answer.status >= 300) return fail(answer, false);
      const info = (answer.body as { data?: { processing_info?: ProcessingInfo } }).data
        ?.processing_info;
      // No processing_info: the media is ready as it is.
      if (!info || info.state === "succeeded") return id;
      if (info.state === "failed") {
        return {
          kind: "failed",
          message: `X could not process the media: ${info.error?.message ?? "no reason given"}`,
        };
      }
      if (poll >= settings.containerPolls) {
        return transient(`X: media ${id} was still processing`);
      }
      await sleep(Math.max(1, Math.min(info.check_after_secs ?? 1, 60)) * 1000);
      const status = new URL(`${api}/2/media/upload`);
      status.searchParams.set("command", "STATUS");
      status.searchParams.set("media_id", id);
      answer = await call(status, { headers: auth(token) }, settings.timeoutMs);
    }
  }

  /** Uploads each media URL; the media ids, or the outcome that stopped it. */
  async function upload(target: PublishTarget): Promise<string[] | PublishOutcome> {
    const ids: string[] = [];
    for (const url of target.mediaUrls) {
      const media = await fetchMedia(url, settings);
      if ("failed" in media) return { kind: "failed", message: `X: ${media.failed}` };
      const type = media.blob.type;
      const id = type.startsWith("video/") || type === "image/gif"
        ? await uploadChunked(media.blob, target.accessToken)
        : await uploadImage(media.blob, target.accessToken);
      if (typeof id !== "string") return id;
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
      url.searchParams.set("tweet.fields", "created_at");
      const answer = await call(url, { headers: auth(target.accessToken) }, settings.timeoutMs);
      if ("lost" in answer || answer.status >= 300) return fail(answer, false);
      const posts = (answer.body as {
        data?: { id?: unknown; text?: unknown; created_at?: unknown }[];
      }).data ?? [];
      const match = posts.find((post) =>
        isSamePost(target, { text: post.text, createdAt: post.created_at })
      );
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
