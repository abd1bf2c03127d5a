// The fake Facebook's Pages publishing, as graph.facebook.com answers it, with page tokens
// (from /me/accounts) in the query or form:
//   POST /v21.0/:page/feed     message              → {"id": "<page>_<post>"}
//   POST /v21.0/:page/photos   url, caption         → {"id": "<photo>", "post_id": "<page>_<post>"}
//   GET  /v21.0/:page/feed     fields=id,message,created_time → {"data": [...]}, each with the
//                              fields asked for
//   GET  /v21.0/:post          reactions, comments and shares summaries
// Page throttling is code 32 with X-Business-Use-Case-Usage (estimated_time_to_regain_access:
// the state's regainAccessMinutes); a bad token is code 190.
import { bucThrottled, graphError, graphFailure, graphTime, invalidToken } from "./graph.ts";
import type { Route } from "./server.ts";
import { type Failure, type FakePost, type FakeState, formParams, json, token } from "./state.ts";

const postId = (post: FakePost) => `${post.author}_${post.id}`;

export function facebookPublishing(state: FakeState) {
  /** Page tokens by value → page id; one per page, valid while the fake runs. */
  const tokens = new Map<string, string>();
  const byPage = new Map<string, string>();

  function pageToken(pageId: string): string {
    const known = byPage.get(pageId);
    if (known) return known;
    const value = token("facebook-page");
    tokens.set(value, pageId);
    byPage.set(pageId, value);
    return value;
  }

  /** The failure to answer with, the page the token is for, and the request's parameters. */
  async function enter(request: Request, endpoint: string) {
    const failure = await state.enter(endpoint);
    const params = await formParams(request);
    const page = tokens.get(params.get("access_token") ?? "");
    return { failure, params, page };
  }

  const answerFailure = (failure: Failure, page: string) =>
    failure === "rate_limited"
      ? bucThrottled(page, "pages", state.regainAccessMinutes)
      : graphFailure(failure);

  /** Publishes to the page in the path with `fields`; `accepted` shapes the answer. */
  const publish = (kind: "feed" | "photos"): Route => async (request) => {
    const target = new URL(request.url).pathname.split("/")[3];
    const { failure, params, page } = await enter(request, "publish");
    const text = params.get(kind === "feed" ? "message" : "caption") ?? "";
    const media = kind === "photos" ? [params.get("url") ?? ""] : [];
    if (failure === "accept_then_timeout" && page === target) {
      state.post(target, text, media);
      await state.hang(request);
    }
    if (failure) return answerFailure(failure, target);
    if (!page) return invalidToken();
    if (page !== target) {
      return graphError(403, 200, "(#200) The page token does not belong to this page");
    }
    if (kind === "photos" && !media[0].startsWith("http")) {
      return graphError(400, 324, "(#324) Requires upload file");
    }
    const post = state.post(target, text, media);
    return json(kind === "feed" ? { id: postId(post) } : { id: post.id, post_id: postId(post) });
  };

  const routes: Record<string, Route> = {
    "POST /v21.0/:page/feed": publish("feed"),
    "POST /v21.0/:page/photos": publish("photos"),

    "GET /v21.0/:page/feed": async (request) => {
      const target = new URL(request.url).pathname.split("/")[3];
      const { failure, params, page } = await enter(request, "recent");
      if (failure) return answerFailure(failure, target);
      if (page !== target) return invalidToken();
      // Graph answers the fields asked for (and the id).
      const fields = (params.get("fields") ?? "").split(",");
      const data = state.posts.filter((post) => post.author === target).slice(-20).reverse()
        .map((post) => ({
          id: postId(post),
          ...(fields.includes("message") ? { message: post.text } : {}),
          ...(fields.includes("created_time") ? { created_time: graphTime(post.createdAt) } : {}),
        }));
      return json({ data, paging: { cursors: { before: "QVFIUmZA", after: "QVFIUmZB" } } });
    },

    "GET /v21.0/:post": async (request) => {
      const id = new URL(request.url).pathname.split("/")[3];
      const { failure, page } = await enter(request, "metrics");
      if (failure) return answerFailure(failure, id);
      if (!page) return invalidToken();
      const post = state.findPost(id, postId);
      if (!post) {
        return graphError(
          400,
          100,
          `Unsupported get request. Object with ID '${id}' does not exist`,
        );
      }
      return json({
        id,
        reactions: { data: [], summary: { total_count: post.metrics.likes } },
        comments: { data: [], summary: { total_count: post.metrics.replies, order: "ranked" } },
        shares: { count: post.metrics.reposts },
      });
    },
  };

  return { routes, pageToken };
}
