// The fake LinkedIn's Posts API and the member's Company Pages, as api.linkedin.com answers:
//   GET  /rest/organizationAcls?q=roleAssignee[&role][&state][&start][&count]
//                                    → {"paging", "elements": [{"roleAssignee", "role", "state",
//                                      "organization", "created", "lastModified"}]}
//                                      (needs rw_organization_admin)
//   GET  /rest/organizations/:id     → {"id", "localizedName", "vanityName", "name", ...}
//   POST /rest/posts                 → 201, empty body, x-restli-id: urn:li:share:<id>; the
//                                      author is the member, or a page the member administers
//                                      (with w_organization_social); any other URN form: 422
//   GET  /rest/posts?q=author&author → {"paging", "elements": [{"id", "author", "commentary",
//                                      "createdAt", "publishedAt", "lastModifiedAt" (epoch ms)}]}
//   GET  /rest/socialActions/:urn    → {"likesSummary": {"totalLikes"}, "commentsSummary":
//                                      {"aggregatedTotalComments"}}
// Every call needs LinkedIn-Version (a version older than `oldestVersion` answers 426
// NONEXISTENT_VERSION, none answers 400 VERSION_MISSING) and X-Restli-Protocol-Version 2.0.0.
// Reading a page's posts needs r_organization_social and a role on it.
import { failed } from "./linkedin.ts";
import type { Route } from "./server.ts";
import { bearer, type FakeState, json } from "./state.ts";

/** The oldest LinkedIn-Version the fake accepts; LinkedIn keeps about a year of versions. */
export const OLDEST_LINKEDIN_VERSION = "202501";

/** A Company Page and the member's role on it (ADMINISTRATOR, CONTENT_ADMINISTRATOR, ANALYST...). */
export type FakeOrganization = { id: number; name: string; role: string };

/** Roles that may post as a page. */
const POSTERS = new Set(["ADMINISTRATOR", "CONTENT_ADMINISTRATOR"]);

const shareUrn = (id: string) => `urn:li:share:${id}`;
const organizationUrn = (id: number) => `urn:li:organization:${id}`;

/** LinkedIn's 422 for an author that is no URN it knows, as the Posts API words it. */
const badAuthor = (author: string) =>
  json({
    status: 422,
    message: `ERROR :: /author :: "${author}" does not match urn:li:company:\\d+|` +
      "urn:li:member:\\d+|urn:li:organization:\\d+|urn:li:organizationBrand:\\d+|urn:li:person:.+\n",
  }, 422);

const denied = (message: string) =>
  json({ status: 403, serviceErrorCode: 100, code: "ACCESS_DENIED", message }, 403);

export function linkedinPublishing(
  state: FakeState,
  organizations: () => FakeOrganization[],
): Record<string, Route> {
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
  const granted = (request: Request, scope: string) =>
    state.accessGrant(bearer(request))?.scopes.includes(scope) ?? false;

  /**
   * Why the request may not act as `author` (`scope` needed for a page), or undefined. Only
   * urn:li:person:<id> and urn:li:organization:<digits> are authors here.
   */
  function authorRefusal(request: Request, author: string, scope: string) {
    if (/^urn:li:person:[\w-]+$/.test(author)) {
      return author === member()
        ? undefined
        : denied(`Not enough permissions to post as ${author}`);
    }
    const page = /^urn:li:organization:(\d+)$/.exec(author);
    if (!page) return badAuthor(author);
    if (!granted(request, scope)) {
      return denied("Organization permissions must be used when using organization as author");
    }
    const role = organizations().find((o) => String(o.id) === page[1])?.role;
    return role && POSTERS.has(role)
      ? undefined
      : denied(`Not enough permissions to post as ${author}`);
  }

  return {
    "GET /rest/organizationAcls": async (request) => {
      const failure = await state.enter("organizations");
      if (failure) return failed(failure);
      const refused = refuse(request);
      if (refused) return refused;
      const params = new URL(request.url).searchParams;
      if (params.get("q") !== "roleAssignee") {
        return json({
          status: 400,
          code: "ILLEGAL_ARGUMENT",
          message: `Invalid query parameter q: ${params.get("q")}`,
        }, 400);
      }
      if (!granted(request, "rw_organization_admin")) {
        return denied("Not enough permissions to access: organizationAcls.FINDER-roleAssignee");
      }
      const role = params.get("role");
      const wanted = params.get("state");
      const start = Number(params.get("start") ?? 0);
      const count = Number(params.get("count") ?? 10);
      const audit = { actor: member(), time: 1_700_000_000_000 };
      const all = organizations()
        .filter((o) => (!role || o.role === role) && (!wanted || wanted === "APPROVED"))
        .map((o) => ({
          roleAssignee: member(),
          state: "APPROVED",
          role: o.role,
          organization: organizationUrn(o.id),
          created: audit,
          lastModified: audit,
        }));
      return json({
        paging: { start, count, links: [], total: all.length },
        elements: all.slice(start, start + count),
      });
    },

    "GET /rest/organizations/:id": async (request) => {
      const failure = await state.enter("organization");
      if (failure) return failed(failure);
      const refused = refuse(request);
      if (refused) return refused;
      const id = new URL(request.url).pathname.split("/").at(-1);
      const page = organizations().find((o) => String(o.id) === id);
      if (!page) {
        return json(
          { status: 404, code: "NOT_FOUND", message: `Organization ${id} not found` },
          404,
        );
      }
      return json({
        id: page.id,
        "$URN": organizationUrn(page.id),
        localizedName: page.name,
        vanityName: page.name.toLowerCase().replace(/\W+/g, "-"),
        name: {
          localized: { en_US: page.name },
          preferredLocale: { country: "US", language: "en" },
        },
        primaryOrganizationType: "NONE",
        locations: [],
      });
    },

    "POST /rest/posts": async (request) => {
      const failure = await state.enter("publish");
      const refused = refuse(request);
      const body = await request.json().catch(() => ({})) as {
        author?: string;
        commentary?: string;
        content?: { article?: { source?: string } };
      };
      const author = body.author ?? "";
      const problem = refused ?? authorRefusal(request, author, "w_organization_social") ??
        (typeof body.commentary !== "string" || body.commentary.length > 3000
          ? json({
            status: 422,
            code: "UNPROCESSABLE_ENTITY",
            message: "/commentary :: length must be at most 3000",
          }, 422)
          : undefined);
      if (failure === "accept_then_timeout" && !problem) {
        state.post(author, body.commentary!);
        await state.hang(request);
      }
      if (failure) return failed(failure);
      if (problem) return problem;
      const source = body.content?.article?.source;
      const post = state.post(author, body.commentary!, source ? [source] : []);
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
      const author = new URL(request.url).searchParams.get("author") ?? "";
      const denial = authorRefusal(request, author, "r_organization_social");
      if (denial) return denial;
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
