// Instagram (API with Instagram Login, graph.instagram.com): a post is a container made from
// one image or video URL, published once Instagram has processed it.
//   POST /{ig-user-id}/media          image_url | video_url + media_type=REELS, caption → {"id"}
//   GET  /{container-id}?fields=status_code,status   IN_PROGRESS | FINISHED | ERROR | EXPIRED
//   POST /{ig-user-id}/media_publish  creation_id → {"id": <media id>}
//   GET  /{media-id}?fields=permalink
// A container that ends in ERROR fails the target with Instagram's `status` message. Carousels
// (several media in one post) are not built: the first media URL is posted.
// Recent posts: GET /{ig-user-id}/media?fields=id,caption,permalink,timestamp; metrics: like
// and comment counts.
import {
  type Answer,
  count,
  isSamePost,
  malformed,
  type Published,
  type Publisher,
  type PublishOutcome,
  type PublishTarget,
  sleep,
  text,
  transient,
} from "./outcome.ts";
import { graphCall, graphFailure } from "./meta.ts";
import type { SocialSettings } from "./settings.ts";

const GRAPH_VERSION = "v21.0";
const VIDEO = /\.(mp4|mov)(\?|$)/i;

export function instagramPublisher(api: string, settings: SocialSettings): Publisher {
  const graph = (path: string, token: string, params: Record<string, string>, post = false) =>
    graphCall(`${api}/${GRAPH_VERSION}${path}`, token, params, {
      post,
      timeoutMs: settings.timeoutMs,
    });
  const failed = (answer: Answer | { lost: string }, sent: boolean) =>
    "lost" in answer || answer.status >= 300 ? graphFailure("Instagram", answer, sent) : undefined;
  const account = (target: Pick<PublishTarget, "accountId" | "platformUserId">) =>
    target.accountId ?? target.platformUserId;

  /** The container's id once FINISHED, or the outcome that stopped it. */
  async function container(target: PublishTarget): Promise<string | PublishOutcome> {
    const media = target.mediaUrls[0];
    if (!media) {
      return { kind: "failed", message: "Instagram posts need an image or video URL" };
    }
    const created = await graph(`/${account(target)}/media`, target.accessToken, {
      caption: target.text,
      ...(VIDEO.test(media) ? { media_type: "REELS", video_url: media } : { image_url: media }),
    }, true);
    const refused = failed(created, false);
    if (refused) return refused;
    const id = text((created as Answer).body, "id");
    if (!id) return malformed("Instagram", "the media container");
    for (let poll = 0; poll < settings.containerPolls; poll++) {
      const status = await graph(`/${id}`, target.accessToken, { fields: "status_code,status" });
      const broken = failed(status, false);
      if (broken) return broken;
      const body = (status as Answer).body;
      const code = text(body, "status_code");
      if (code === "FINISHED") return id;
      if (code === "ERROR" || code === "EXPIRED") {
        return {
          kind: "failed",
          message: `Instagram could not process the media (${code}): ${
            text(body, "status") ?? "no reason given"
          }`,
        };
      }
      await sleep(settings.containerPollMs);
    }
    return transient(`Instagram: container ${id} was still processing`);
  }

  /** The media's permalink; a post whose permalink cannot be read is still published. */
  async function permalink(id: string, token: string): Promise<Published> {
    const answer = await graph(`/${id}`, token, { fields: "permalink" });
    return { id, url: "lost" in answer ? null : text(answer.body, "permalink") ?? null };
  }

  return {
    async publish(target) {
      const ready = await container(target);
      if (typeof ready !== "string") return ready;
      const answer = await graph(`/${account(target)}/media_publish`, target.accessToken, {
        creation_id: ready,
      }, true);
      const lost = failed(answer, true);
      if (lost) return lost;
      const id = text((answer as Answer).body, "id");
      if (!id) return { kind: "maybe_posted", message: "Instagram answered without an id" };
      return { kind: "published", ...await permalink(id, target.accessToken) };
    },

    async findRecent(target) {
      const answer = await graph(`/${account(target)}/media`, target.accessToken, {
        fields: "id,caption,permalink,timestamp",
        limit: "20",
      });
      const broken = failed(answer, false);
      if (broken) return broken;
      const posts = ((answer as Answer).body as {
        data?: { id?: unknown; caption?: unknown; permalink?: unknown; timestamp?: unknown }[];
      }).data ?? [];
      const match = posts.find((post) =>
        isSamePost(target, { text: post.caption, createdAt: post.timestamp })
      );
      return typeof match?.id === "string"
        ? { id: match.id, url: typeof match.permalink === "string" ? match.permalink : null }
        : undefined;
    },

    async metrics(target) {
      const answer = await graph(`/${target.postId}`, target.accessToken, {
        fields: "like_count,comments_count",
      });
      const broken = failed(answer, false);
      if (broken) return broken;
      const body = (answer as Answer).body;
      return { likes: count(body, "like_count"), replies: count(body, "comments_count") };
    },
  };
}
