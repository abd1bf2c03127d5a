// Facebook Pages (Graph API): posts go to a page from the connection's accounts, with the
// page's own token (GET /me/accounts; page tokens are not stored, see providers/facebook.ts).
//   text only   POST /{page-id}/feed   message            → {"id": "<page>_<post>"}
//   with media  POST /{page-id}/photos url, caption       → {"id": "<photo>", "post_id"}
// Recent posts: GET /{page-id}/feed?fields=id,message,created_time; metrics: GET /{post-id}
// with reaction, comment and share counts.
import {
  count,
  isSamePost,
  type Published,
  type Publisher,
  type PublishOutcome,
  text,
} from "./outcome.ts";
import { graphCall, graphFailure } from "./meta.ts";
import type { SocialSettings } from "./settings.ts";

const link = (id: string): Published => ({ id, url: `https://www.facebook.com/${id}` });

export function facebookPublisher(api: string, settings: SocialSettings): Publisher {
  const graph = (path: string, token: string, params: Record<string, string>, post = false) =>
    graphCall(`${api}${path}`, token, params, { post, timeoutMs: settings.timeoutMs });

  /** The page's token, or the outcome that stopped it. */
  async function pageToken(
    userToken: string,
    pageId: string | null,
  ): Promise<string | PublishOutcome> {
    if (!pageId) {
      return {
        kind: "failed",
        message: "Facebook posts go to a page: choose one of the connection's pages as account_id",
      };
    }
    const answer = await graph("/me/accounts", userToken, {
      fields: "id,access_token",
      limit: "100",
    });
    if ("lost" in answer || answer.status >= 300) {
      return graphFailure("Facebook", answer, false);
    }
    const pages = (answer.body as { data?: { id?: unknown; access_token?: unknown }[] }).data ??
      [];
    const token = pages.find((page) => page.id === pageId)?.access_token;
    return typeof token === "string" ? token : {
      kind: "failed",
      message: `Facebook: the connection no longer manages page ${pageId}; connect Facebook again`,
    };
  }

  return {
    async publish(target) {
      const token = await pageToken(target.accessToken, target.accountId);
      if (typeof token !== "string") return token;
      const photo = target.mediaUrls[0];
      const answer = photo
        ? await graph(
          `/${target.accountId}/photos`,
          token,
          { url: photo, caption: target.text },
          true,
        )
        : await graph(`/${target.accountId}/feed`, token, { message: target.text }, true);
      if ("lost" in answer || answer.status >= 300) return graphFailure("Facebook", answer, true);
      const id = text(answer.body, "post_id") ?? text(answer.body, "id");
      return id
        ? { kind: "published", ...link(id) }
        : { kind: "maybe_posted", message: "Facebook answered without an id" };
    },

    async findRecent(target) {
      const token = await pageToken(target.accessToken, target.accountId);
      if (typeof token !== "string") return token;
      const answer = await graph(`/${target.accountId}/feed`, token, {
        fields: "id,message,created_time",
        limit: "20",
      });
      if ("lost" in answer || answer.status >= 300) return graphFailure("Facebook", answer, false);
      const posts = (answer.body as {
        data?: { id?: unknown; message?: unknown; created_time?: unknown }[];
      }).data ?? [];
      const match = posts.find((post) =>
        isSamePost(target, { text: post.message, createdAt: post.created_time })
      );
      return typeof match?.id === "string" ? link(match.id) : undefined;
    },

    async metrics(target) {
      const token = await pageToken(target.accessToken, target.accountId);
      if (typeof token !== "string") return token;
      const answer = await graph(`/${target.postId}`, token, {
        fields: "reactions.summary(total_count).limit(0),comments.summary(total_count).limit(0)," +
          "shares",
      });
      if ("lost" in answer || answer.status >= 300) return graphFailure("Facebook", answer, false);
      return {
        likes: count(answer.body, "reactions", "summary", "total_count"),
        replies: count(answer.body, "comments", "summary", "total_count"),
        reposts: count(answer.body, "shares", "count") ?? 0,
      };
    },
  };
}
