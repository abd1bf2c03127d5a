// The fake Instagram's content publishing, as graph.instagram.com answers it, with the user's
// token in the query or form:
//   POST /v21.0/:ig/media          image_url | video_url (+ media_type=REELS), caption → {"id"}
//   GET  /v21.0/:id                a container: fields=status_code,status → {"status_code", "id"}
//                                  (IN_PROGRESS for `processingPolls` reads, then FINISHED);
//                                  a media: permalink, like_count, comments_count
//   POST /v21.0/:ig/media_publish  creation_id → {"id"}; an unfinished container answers
//                                  code 9007 "The media is not ready for publishing"
//   GET  /v21.0/:ig/media          fields=id,caption,permalink,timestamp → {"data": [...]}, each
//                                  with the fields asked for
// failNext("container", "rejected") makes the next container end in ERROR; "rate_limited" is
// Instagram's business use case throttling (code 80002 with X-Business-Use-Case-Usage).
import { bucThrottled, graphError, graphFailure, graphTime, invalidToken } from "./graph.ts";
import type { Route } from "./server.ts";
import { type Failure, type FakePost, type FakeState, formParams, json } from "./state.ts";

type Container = { caption: string; media: string; polls: number; error?: string };

const permalink = (post: FakePost) => `https://www.instagram.com/p/FAKE${post.id}/`;

export function instagramPublishing(state: FakeState, processingPolls = 1) {
  const containers = new Map<string, Container>();
  const published = new Set<string>();

  async function enter(request: Request, endpoint: string) {
    const failure = await state.enter(endpoint);
    const params = await formParams(request);
    const ok = state.accessGrant(params.get("access_token") ?? undefined) !== undefined;
    const [, , , id] = new URL(request.url).pathname.split("/");
    return { failure, params, ok, id };
  }

  /** The account's (or container's) throttling with its usage header, or another failure. */
  const answerFailure = (failure: Failure, id: string) =>
    failure === "rate_limited"
      ? bucThrottled(id, "instagram", state.regainAccessMinutes)
      : graphFailure(failure);

  const noAccount = (id: string) =>
    graphError(400, 100, `Unsupported post request. Object with ID '${id}' does not exist`, {
      type: "GraphMethodException",
      error_subcode: 33,
    });

  const routes: Record<string, Route> = {
    "POST /v21.0/:ig/media": async (request) => {
      const { failure, params, ok, id } = await enter(request, "container");
      if (failure && failure !== "rejected") return answerFailure(failure, id);
      if (!ok) return invalidToken();
      if (id !== state.account.id) return noAccount(id);
      const media = params.get("image_url") ?? params.get("video_url");
      if (!media) {
        return graphError(400, 9004, "Only photo or video can be accepted as media type.", {
          error_subcode: 2207052,
        });
      }
      const container = String(18_000_000_000_000 + containers.size);
      containers.set(container, {
        caption: params.get("caption") ?? "",
        media,
        polls: 0,
        error: failure === "rejected"
          ? "Error: Media download has failed. The media URI doesn't meet our requirements."
          : undefined,
      });
      return json({ id: container });
    },

    "POST /v21.0/:ig/media_publish": async (request) => {
      const { failure, params, ok, id } = await enter(request, "publish");
      const container = containers.get(params.get("creation_id") ?? "");
      const ready = ok && id === state.account.id && container &&
        container.polls > processingPolls && !container.error;
      if (failure === "accept_then_timeout" && ready) {
        published.add(state.post(id, container.caption, [container.media]).id);
        await state.hang(request);
      }
      if (failure) return answerFailure(failure, id);
      if (!ok) return invalidToken();
      if (id !== state.account.id) return noAccount(id);
      if (!ready) {
        return graphError(
          400,
          9007,
          "The media is not ready for publishing, please wait for a moment",
          {
            error_subcode: 2207027,
          },
        );
      }
      const post = state.post(id, container.caption, [container.media]);
      published.add(post.id);
      return json({ id: post.id });
    },

    "GET /v21.0/:ig/media": async (request) => {
      const { failure, params, ok, id } = await enter(request, "recent");
      if (failure) return answerFailure(failure, id);
      if (!ok) return invalidToken();
      if (id !== state.account.id) return noAccount(id);
      const fields = (params.get("fields") ?? "").split(",");
      const data = state.posts.filter((post) => post.author === id).slice(-20).reverse()
        .map((post) => ({
          id: post.id,
          ...(fields.includes("caption") ? { caption: post.text } : {}),
          ...(fields.includes("permalink") ? { permalink: permalink(post) } : {}),
          ...(fields.includes("timestamp") ? { timestamp: graphTime(post.createdAt) } : {}),
        }));
      return json({ data, paging: { cursors: { before: "QVFIUm", after: "QVFIUn" } } });
    },

    "GET /v21.0/:id": async (request) => {
      const { failure, ok, id } = await enter(request, "status");
      if (failure) return answerFailure(failure, id);
      if (!ok) return invalidToken();
      const container = containers.get(id);
      if (container) {
        container.polls++;
        const status_code = container.error
          ? "ERROR"
          : container.polls > processingPolls
          ? "FINISHED"
          : "IN_PROGRESS";
        return json({ status_code, ...(container.error ? { status: container.error } : {}), id });
      }
      const post = published.has(id) ? state.findPost(id) : undefined;
      if (!post) return noAccount(id);
      return json({
        id,
        permalink: permalink(post),
        like_count: post.metrics.likes,
        comments_count: post.metrics.replies,
      });
    },
  };

  return routes;
}
