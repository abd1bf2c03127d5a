// LinkedIn (Posts API): POST /rest/posts with `LinkedIn-Version` (BEACON_LINKEDIN_VERSION)
// and `X-Restli-Protocol-Version: 2.0.0` → 201 with an empty body and the post's URN in the
// x-restli-id header. An outdated version answers 426 NONEXISTENT_VERSION. The author is the
// member (urn:li:person:<sub>) or an organisation from the connection's accounts, whose ids are
// its URN (urn:li:organization:<id>, as providers/linkedin.ts stores them); a media URL is
// shared as an article link (uploading images through the Images API is not built).
// Recent posts: GET /rest/posts?q=author (createdAt in epoch ms); metrics:
// GET /rest/socialActions/{urn}.
import { retryAfterSeconds } from "../retry_after.ts";
import {
  type Answer,
  call,
  count,
  failure,
  isSamePost,
  platformMessage,
  type Published,
  type Publisher,
  type PublishOutcome,
  type PublishTarget,
} from "./outcome.ts";
import type { SocialSettings } from "./settings.ts";

/**
 * LinkedIn's throttles are daily quotas that reset at midnight UTC and its 429s carry no
 * Retry-After as a rule: wait for the header when present, else for the reset.
 */
const rateLimitSeconds = (answer: Answer, now = Date.now()) => {
  if (answer.headers.has("retry-after")) return retryAfterSeconds(answer.headers);
  const midnight = new Date(now);
  midnight.setUTCHours(24, 0, 0, 0);
  return Math.ceil((midnight.getTime() - now) / 1000);
};

const author = (target: Pick<PublishTarget, "accountId" | "platformUserId">) =>
  target.accountId ?? `urn:li:person:${target.platformUserId}`;

const link = (urn: string): Published => ({
  id: urn,
  url: `https://www.linkedin.com/feed/update/${urn}/`,
});

export function linkedinPublisher(api: string, settings: SocialSettings): Publisher {
  const version = settings.linkedinVersion;
  const headers = (token: string, version: string) => ({
    authorization: `Bearer ${token}`,
    "linkedin-version": version,
    "x-restli-protocol-version": "2.0.0",
  });
  const notConfigured: PublishOutcome = {
    kind: "failed",
    message: "LinkedIn publishing is not configured: set BEACON_LINKEDIN_VERSION (YYYYMM)",
  };

  /** 426: our configured version is retired; no retry helps until it is changed. */
  const fail = (answer: Answer | { lost: string }, sent: boolean): PublishOutcome =>
    !("lost" in answer) && answer.status === 426
      ? {
        kind: "failed",
        message: `${platformMessage("LinkedIn", answer)} (LinkedIn-Version ${version} is ` +
          "no longer active: set BEACON_LINKEDIN_VERSION to a current YYYYMM)",
      }
      : failure("LinkedIn", answer, { sent, rateLimitSeconds });

  return {
    async publish(target) {
      if (!version) return notConfigured;
      const article = target.mediaUrls[0];
      const answer = await call(`${api}/rest/posts`, {
        method: "POST",
        headers: { ...headers(target.accessToken, version), "content-type": "application/json" },
        body: JSON.stringify({
          author: author(target),
          commentary: target.text,
          visibility: "PUBLIC",
          distribution: {
            feedDistribution: "MAIN_FEED",
            targetEntities: [],
            thirdPartyDistributionChannels: [],
          },
          ...(article ? { content: { article: { source: article, title: article } } } : {}),
          lifecycleState: "PUBLISHED",
          isReshareDisabledByAuthor: false,
        }),
      }, settings.timeoutMs);
      if ("lost" in answer || answer.status >= 300) return fail(answer, true);
      const urn = answer.headers.get("x-restli-id");
      return urn
        ? { kind: "published", ...link(urn) }
        : { kind: "maybe_posted", message: "LinkedIn answered without x-restli-id" };
    },

    async findRecent(target) {
      if (!version) return notConfigured;
      const url = new URL(`${api}/rest/posts`);
      url.searchParams.set("q", "author");
      url.searchParams.set("author", author(target));
      url.searchParams.set("count", "20");
      const answer = await call(
        url,
        { headers: headers(target.accessToken, version) },
        settings.timeoutMs,
      );
      if ("lost" in answer || answer.status >= 300) return fail(answer, false);
      const posts = (answer.body as {
        elements?: { id?: unknown; commentary?: unknown; createdAt?: unknown }[];
      }).elements ?? [];
      const match = posts.find((post) =>
        isSamePost(target, { text: post.commentary, createdAt: post.createdAt })
      );
      return typeof match?.id === "string" ? link(match.id) : undefined;
    },

    async metrics(target) {
      if (!version) return notConfigured;
      const answer = await call(
        `${api}/rest/socialActions/${encodeURIComponent(target.postId)}`,
        { headers: headers(target.accessToken, version) },
        settings.timeoutMs,
      );
      if ("lost" in answer || answer.status >= 300) return fail(answer, false);
      return {
        likes: count(answer.body, "likesSummary", "totalLikes"),
        replies: count(answer.body, "commentsSummary", "aggregatedTotalComments"),
      };
    },
  };
}
