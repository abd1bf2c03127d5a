// The fake X's publishing side, as api.x.com answers it:
//   POST /2/media/upload      multipart (media, media_category) → {"data": {"id", "media_key",
//                             "size", "expires_after_secs"}}
//   POST /2/tweets            {"text", "media"?: {"media_ids"}} → 201 {"data": {"id", "text",
//                             "edit_history_tweet_ids"}}; a repeated text: 403 duplicate content
//   GET  /2/users/:id/tweets  → {"data": [{"id", "text"}], "meta": {"result_count"}}
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

export function twitterPublishing(state: FakeState): Record<string, Route> {
  const media = new Set<string>();
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
        return json({
          errors: [{ message: "media: a file is required", parameters: { media: [] } }],
          title: "Invalid Request",
          detail: "One or more parameters to your request was invalid.",
          type: "https://api.x.com/2/problems/invalid-request",
        }, 400);
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
        return json({
          errors: [{ message: unknown ? `media id ${unknown} is not known` : "text is required" }],
          title: "Invalid Request",
          detail: "One or more parameters to your request was invalid.",
          type: "https://api.x.com/2/problems/invalid-request",
        }, 400);
      }
      if (state.posts.some((post) => post.author === user && post.text === body.text)) {
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
      const id = new URL(request.url).pathname.split("/")[4];
      const data = state.posts.filter((post) => post.author === id).slice(-20).reverse()
        .map((post) => ({ id: post.id, text: post.text, edit_history_tweet_ids: [post.id] }));
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
