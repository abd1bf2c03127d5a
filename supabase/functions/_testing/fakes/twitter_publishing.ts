// The fake X's publishing side, as api.x.com answers it:
//   POST /2/media/upload      multipart (media, media_category) → {"data": {"id", "media_key",
//                             "size", "expires_after_secs"}}
//   POST /2/media/upload/initialize  {"media_type", "total_bytes", "media_category"} → {"data":
//                             {"id", "media_key", "expires_after_secs"}} (videos and GIFs)
//   POST /2/media/upload/:id/append  multipart (media, segment_index) → {"data": {"expires_at"}}
//   POST /2/media/upload/:id/finalize → {"data": {..., "processing_info": {"state": "pending",
//                             "check_after_secs": 1}}}; fewer bytes than announced: 400
//   GET  /2/media/upload?command=STATUS&media_id= → processing_info: in_progress on the first
//                             read, then succeeded (failNext("processing", "rejected"): failed,
//                             with X's error); a media id is postable once it succeeded
//   POST /2/tweets            {"text", "media"?: {"media_ids"}} → 201 {"data": {"id", "text",
//                             "edit_history_tweet_ids"}}; a text posted within DUPLICATE_WINDOW_MS:
//                             403 duplicate content
//   GET  /2/users/:id/tweets  → {"data": [{"id", "text", "edit_history_tweet_ids"}], "meta":
//                             {"result_count"}}; created_at only with tweet.fields=created_at
//   GET  /2/tweets/:id        ?tweet.fields=public_metrics → {"data": {..., "public_metrics"}}
// 401 problem for a bad or expired token; x-rate-limit-* headers on every answer.
import type { Route } from "./server.ts";
import { bearer, type FakeState, json } from "./state.ts";
import { failed, problem } from "./twitter.ts";

const limits = () => ({
  "x-rate-limit-limit": "100",
  "x-rate-limit-remaining": "99",
  "x-rate-limit-reset": String(Math.floor(Date.now() / 1000) + 900),
});

/**
 * X refuses a text its author posted recently; it does not say how recently. The fake takes a
 * day, so a test can hold an identical older post.
 */
const DUPLICATE_WINDOW_MS = 24 * 3600_000;

/** X's 400 problem for a request it cannot take. */
const invalid = (message: string, extra: Record<string, unknown> = {}) =>
  json({
    errors: [{ message, ...extra }],
    title: "Invalid Request",
    detail: "One or more parameters to your request was invalid.",
    type: "https://api.x.com/2/problems/invalid-request",
  }, 400);

export function twitterPublishing(state: FakeState): Record<string, Route> {
  const media = new Set<string>();
  /** Chunked uploads by media id: bytes announced and received, STATUS reads so far. */
  const uploads = new Map<string, { total: number; received: number; statusReads: number }>();
  const userOf = (request: Request) =>
    state.accessGrant(bearer(request)) ? state.account.id : undefined;

  return {
    "POST /2/media/upload": async (request) => {
      const failure = await state.enter("media");
      if (failure) return failed(failure);
      if (!userOf(request)) return problem(401, "Unauthorized");
      const form = await request.formData().catch(() => undefined);
      const file = form?.get("media");
      if (!(file instanceof File) || file.size === 0) {
        return invalid("media: a file is required", { parameters: { media: [] } });
      }
      const id = String(1_890_000_000_000 + media.size);
      media.add(id);
      return json(
        {
          data: { id, media_key: `3_${id}`, size: file.size, expires_after_secs: 86400 },
        },
        200,
        limits(),
      );
    },

    "POST /2/media/upload/initialize": async (request) => {
      const failure = await state.enter("media_init");
      if (failure) return failed(failure);
      if (!userOf(request)) return problem(401, "Unauthorized");
      const body = await request.json().catch(() => ({})) as {
        media_type?: string;
        total_bytes?: number;
        media_category?: string;
      };
      if (
        !body.media_type || !(Number(body.total_bytes) > 0) ||
        !["tweet_video", "tweet_gif", "amplify_video"].includes(body.media_category ?? "")
      ) {
        return invalid(
          "media_type, total_bytes and media_category (tweet_video, tweet_gif) are required",
        );
      }
      const id = String(1_890_000_000_000 + media.size + uploads.size);
      uploads.set(id, { total: Number(body.total_bytes), received: 0, statusReads: 0 });
      return json(
        { data: { id, media_key: `7_${id}`, expires_after_secs: 86400 } },
        200,
        limits(),
      );
    },

    "POST /2/media/upload/:id/append": async (request) => {
      const failure = await state.enter("media_append");
      if (failure) return failed(failure);
      if (!userOf(request)) return problem(401, "Unauthorized");
      const upload = uploads.get(new URL(request.url).pathname.split("/")[5]);
      const form = await request.formData().catch(() => undefined);
      const chunk = form?.get("media");
      if (!upload || !(chunk instanceof File) || form?.get("segment_index") === null) {
        return invalid("an upload id from initialize, media and segment_index are required");
      }
      upload.received += chunk.size;
      return json({ data: { expires_at: Math.floor(Date.now() / 1000) + 86400 } }, 200, limits());
    },

    "POST /2/media/upload/:id/finalize": async (request) => {
      const failure = await state.enter("media_finalize");
      if (failure) return failed(failure);
      if (!userOf(request)) return problem(401, "Unauthorized");
      const id = new URL(request.url).pathname.split("/")[5];
      const upload = uploads.get(id);
      if (!upload || upload.received !== upload.total) {
        return invalid(
          `media ${id}: ${upload?.received ?? 0} of ${upload?.total ?? 0} bytes arrived`,
        );
      }
      return json(
        {
          data: {
            id,
            media_key: `7_${id}`,
            size: upload.total,
            expires_after_secs: 86400,
            processing_info: { state: "pending", check_after_secs: 1 },
          },
        },
        200,
        limits(),
      );
    },

    "GET /2/media/upload": async (request) => {
      const failure = await state.enter("processing");
      if (!userOf(request)) return problem(401, "Unauthorized");
      const query = new URL(request.url).searchParams;
      const id = query.get("media_id") ?? "";
      const upload = uploads.get(id);
      if (query.get("command") !== "STATUS" || !upload) {
        return invalid("command=STATUS and a media_id from initialize are required");
      }
      if (failure && failure !== "rejected") return failed(failure);
      upload.statusReads++;
      const processing_info = failure
        ? {
          state: "failed",
          progress_percent: 0,
          error: { code: 1, name: "InvalidMedia", message: "Unsupported video format" },
        }
        : upload.statusReads > 1
        ? { state: "succeeded", progress_percent: 100 }
        : { state: "in_progress", progress_percent: 50, check_after_secs: 1 };
      if (processing_info.state === "succeeded") media.add(id);
      return json({ data: { id, media_key: `7_${id}`, processing_info } }, 200, limits());
    },

    "POST /2/tweets": async (request) => {
      const failure = await state.enter("publish");
      const user = userOf(request);
      const body = await request.json().catch(() => ({})) as {
        text?: string;
        media?: { media_ids?: string[] };
      };
      if (failure === "accept_then_timeout" && user) {
        state.post(user, body.text ?? "", body.media?.media_ids ?? []);
        await state.hang(request);
      }
      if (failure) return failed(failure);
      if (!user) return problem(401, "Unauthorized");
      const ids = body.media?.media_ids ?? [];
      const unknown = ids.find((id) => !media.has(id));
      if (typeof body.text !== "string" || unknown) {
        return invalid(unknown ? `media id ${unknown} is not known` : "text is required");
      }
      const since = Date.now() - DUPLICATE_WINDOW_MS;
      if (
        state.posts.some((post) =>
          post.author === user && post.text === body.text && post.createdAt > since
        )
      ) {
        return failed("rejected");
      }
      const post = state.post(user, body.text, ids);
      return json(
        {
          data: { id: post.id, text: post.text, edit_history_tweet_ids: [post.id] },
        },
        201,
        limits(),
      );
    },

    "GET /2/users/:id/tweets": async (request) => {
      const failure = await state.enter("recent");
      if (failure) return failed(failure);
      const user = userOf(request);
      if (!user) return problem(401, "Unauthorized");
      const url = new URL(request.url);
      const id = url.pathname.split("/")[4];
      const fields = (url.searchParams.get("tweet.fields") ?? "").split(",");
      const data = state.posts.filter((post) => post.author === id).slice(-20).reverse()
        .map((post) => ({
          id: post.id,
          text: post.text,
          edit_history_tweet_ids: [post.id],
          ...(fields.includes("created_at")
            ? { created_at: new Date(post.createdAt).toISOString() }
            : {}),
        }));
      return json({ data, meta: { result_count: data.length } }, 200, limits());
    },

    "GET /2/tweets/:id": async (request) => {
      const failure = await state.enter("metrics");
      if (failure) return failed(failure);
      if (!userOf(request)) return problem(401, "Unauthorized");
      const post = state.findPost(new URL(request.url).pathname.split("/").at(-1)!);
      if (!post) {
        return json(
          {
            errors: [{
              title: "Not Found Error",
              detail: "Could not find tweet.",
              type: "https://api.x.com/2/problems/resource-not-found",
            }],
          },
          200,
          limits(),
        );
      }
      const m = post.metrics;
      return json(
        {
          data: {
            id: post.id,
            text: post.text,
            public_metrics: {
              retweet_count: m.reposts,
              reply_count: m.replies,
              like_count: m.likes,
              quote_count: 0,
              bookmark_count: 0,
              impression_count: m.impressions,
            },
          },
        },
        200,
        limits(),
      );
    },
  };
}
