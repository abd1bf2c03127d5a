// The fake LinkedIn's Posts API, as api.linkedin.com answers it:
//   POST /rest/posts                 → 201, empty body, x-restli-id: urn:li:share:<id>
//   GET  /rest/posts?q=author&author → {"paging", "elements": [{"id", "author", "commentary",
//                                      "createdAt", "publishedAt", "lastModifiedAt" (epoch ms)}]}
//   GET  /rest/socialActions/:urn    → {"likesSummary": {"totalLikes"}, "commentsSummary":
//                                      {"aggregatedTotalComments"}}
// Every call needs LinkedIn-Version (a version older than `oldestVersion` answers 426
// NONEXISTENT_VERSION, none answers 400 VERSION_MISSING) and X-Restli-Protocol-Version 2.0.0.
import { failed } from "./linkedin.ts";
import type { Route } from "./server.ts";
import { bearer, type FakeState, json } from "./state.ts";

/** The oldest LinkedIn-Version the fake accepts; LinkedIn keeps about a year of versions. */
export const OLDEST_LINKEDIN_VERSION = "202501";

const shareUrn = (id: string) => `urn:li:share:${id}`;

export function linkedinPublishing(state: FakeState): Record<string, Route> {
  /** The API's refusal of a request's headers or token; undefined when they are right. */
  function refuse(request: Request): Response | undefined {
    const version = request.headers.get("linkedin-version");
    if (!version) {
      return json({
        status: 400,
        code: "VERSION_MISSING",
        message: "A version must be present. Please specify a version by adding the " +
          "LinkedIn-Version header.",
      }, 400);
    }
    if (!/^\d{6}$/.test(version) || version < OLDEST_LINKEDIN_VERSION) {
      return json({
        status: 426,
        code: "NONEXISTENT_VERSION",
        message: `Requested version ${version} is not active`,
      }, 426);
    }
    if (request.headers.get("x-restli-protocol-version") !== "2.0.0") {
      return json({
        status: 400,
        code: "ILLEGAL_ARGUMENT",
        message: "X-Restli-Protocol-Version 2.0.0 is required",
      }, 400);
    }
    if (!state.accessGrant(bearer(request))) {
      return json({
        status: 401,
        serviceErrorCode: 65600,
        code: "INVALID_ACCESS_TOKEN",
        message: "Invalid access token",
      }, 401);
    }
    return undefined;
  }

  const member = () => `urn:li:person:${state.account.id}`;

  return {
    "POST /rest/posts": async (request) => {
      const failure = await state.enter("publish");
      const refused = refuse(request);
      const body = await request.json().catch(() => ({})) as {
        author?: string;
        commentary?: string;
        content?: { article?: { source?: string } };
      };
      const author = body.author ?? "";
      if (failure === "accept_then_timeout" && !refused) {
        state.post(author, body.commentary ?? "");
        await state.hang(request);
      }
      if (failure) return failed(failure);
      if (refused) return refused;
      if (author !== member() && !author.startsWith("urn:li:organization:")) {
        return json({
          status: 403,
          serviceErrorCode: 100,
          code: "ACCESS_DENIED",
          message: `Not enough permissions to post as ${author}`,
        }, 403);
      }
      if (typeof body.commentary !== "string" || body.commentary.length > 3000) {
        return json({
          status: 422,
          code: "UNPROCESSABLE_ENTITY",
          message: "/commentary :: length must be at most 3000",
        }, 422);
      }
      const source = body.content?.article?.source;
      const post = state.post(author, body.commentary, source ? [source] : []);
      return new Response(null, {
        status: 201,
        headers: { "x-restli-id": shareUrn(post.id), "x-linkedin-id": shareUrn(post.id) },
      });
    },

    "GET /rest/posts": async (request) => {
      const failure = await state.enter("recent");
      if (failure) return failed(failure);
      const refused = refuse(request);
      if (refused) return refused;
      const author = new URL(request.url).searchParams.get("author");
      const elements = state.posts.filter((post) => post.author === author).slice(-20).reverse()
        .map((post) => ({
          id: shareUrn(post.id),
          author: post.author,
          commentary: post.text,
          lifecycleState: "PUBLISHED",
          visibility: "PUBLIC",
          createdAt: post.createdAt,
          publishedAt: post.createdAt,
          lastModifiedAt: post.createdAt,
        }));
      return json({ paging: { start: 0, count: 20, links: [] }, elements });
    },

    "GET /rest/socialActions/:urn": async (request) => {
      const failure = await state.enter("metrics");
      if (failure) return failed(failure);
      const refused = refuse(request);
      if (refused) return refused;
      const urn = decodeURIComponent(new URL(request.url).pathname.split("/").at(-1)!);
      const post = state.findPost(urn, (p) => shareUrn(p.id));
      if (!post) {
        return json({ status: 404, code: "NOT_FOUND", message: `${urn} not found` }, 404);
      }
      return json({
        "$URN": `urn:li:socialActions:${urn}`,
        likesSummary: { totalLikes: post.metrics.likes, likedByCurrentUser: false },
        commentsSummary: {
          aggregatedTotalComments: post.metrics.replies,
          totalFirstLevelComments: post.metrics.replies,
        },
        target: urn,
      });
    },
  };
}
