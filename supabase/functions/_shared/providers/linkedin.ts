// LinkedIn: "Sign In with LinkedIn using OpenID Connect" plus the w_member_social permission
// to post as the member, and (BEACON_LINKEDIN_ORGANIZATIONS) the Community Management API's
// organisation scopes to post as the Company Pages the member administers. Client credentials
// go in the form body; LinkedIn's web flow has no PKCE. The member id is the OpenID subject
// (urn:li:person:<sub> when posting).
//   authorize  https://www.linkedin.com/oauth/v2/authorization   (scopes space-separated)
//   token      https://www.linkedin.com/oauth/v2/accessToken    (scope comes back comma-separated)
//   userinfo   GET https://api.linkedin.com/v2/userinfo → {"sub", "name", "given_name", ...}
//   pages      GET /rest/organizationAcls?q=roleAssignee&role=ADMINISTRATOR&state=APPROVED →
//              {"elements": [{"organization": "urn:li:organization:<id>", "role", "state"}]},
//              then GET /rest/organizations/<id> → {"localizedName", ...} for each
//   revoke     https://www.linkedin.com/oauth/v2/revoke
// The pages are the connection's accounts, [{"id": "urn:li:organization:<id>", "name"}]: the
// URN is what a social_posts.account_id names and what a post's author is.
// Access tokens live 60 days. Refresh tokens (365 days) are issued only to apps LinkedIn
// enabled for programmatic refresh; without one, the member must connect again in time.
import { inParallel } from "../parallel.ts";
import type { ConfiguredPlatform } from "./config.ts";
import {
  type Account,
  fetchJson,
  OAuthClient,
  optionalString,
  parseScopes,
  type Provider,
  requireScopes,
  step,
  tokenSet,
} from "./oauth.ts";

const SCOPES = ["openid", "profile", "w_member_social"];
/** Listing the member's pages, posting as them, reading their posts back (reconciliation). */
const ORGANIZATION_SCOPES = [
  "rw_organization_admin",
  "w_organization_social",
  "r_organization_social",
];
const ORGANIZATION_URN = /^urn:li:organization:(\d+)$/;
/** The ACL finder's page size; members administering more pages get the first hundred. */
const MAX_ORGANIZATIONS = 100;

/** LinkedIn's refresh answers carry no token_type; RFC 6749 (and oauth4webapi) require one. */
const withTokenType = (body: Record<string, unknown>) =>
  typeof body.access_token === "string" && body.token_type === undefined
    ? { ...body, token_type: "bearer" }
    : body;

export function linkedinProvider(config: ConfiguredPlatform): Provider {
  const client = new OAuthClient(config, {
    auth: "client_secret_post",
    repairTokenResponse: withTokenType,
    userinfo: `${config.endpoints.api}/v2/userinfo`,
  });
  const api = config.endpoints.api;
  const { version, organizations = true } = config.linkedin ?? {};
  const asked = organizations ? [...SCOPES, ...ORGANIZATION_SCOPES] : SCOPES;

  /** The Company Pages the member administers, as accounts. */
  async function pages(accessToken: string): Promise<Account[]> {
    const headers = {
      authorization: `Bearer ${accessToken}`,
      "linkedin-version": version!,
      "x-restli-protocol-version": "2.0.0",
    };
    const acls = new URL(`${api}/rest/organizationAcls`);
    acls.search = new URLSearchParams({
      q: "roleAssignee",
      role: "ADMINISTRATOR",
      state: "APPROVED",
      count: String(MAX_ORGANIZATIONS),
    }).toString();
    const answer = await fetchJson(acls, { headers, what: "the LinkedIn pages request" });
    const urns = new Set(
      ((answer.elements ?? []) as { organization?: unknown }[])
        .map((acl) => acl.organization)
        .filter((urn): urn is string => typeof urn === "string" && ORGANIZATION_URN.test(urn)),
    );
    return inParallel([...urns], 4, async (urn): Promise<Account> => {
      const id = ORGANIZATION_URN.exec(urn)![1];
      const page = await fetchJson(`${api}/rest/organizations/${id}`, {
        headers,
        what: "the LinkedIn page lookup",
      });
      return { id: urn, name: optionalString(page.localizedName) ?? "" };
    });
  }

  return {
    platform: "linkedin",
    pkce: false,

    authorizationUrl: (request) => client.authorizationUrl(request, asked.join(" ")),

    async connect(callback) {
      const token = await client.exchangeCode(callback);
      const scopes = parseScopes(token.scope);
      requireScopes("linkedin", scopes, SCOPES);
      const me = await step("profile_failed", () => client.userinfo(token));
      const name = optionalString(me.name) ??
        ([me.given_name, me.family_name].filter(Boolean).join(" ") ||
          undefined);
      // A member who may not post as pages (scopes not granted, or no LinkedIn-Version to ask
      // with) connects all the same, as themselves only.
      const accounts = version && ORGANIZATION_SCOPES.every((scope) => scopes.includes(scope))
        ? await step("profile_failed", () => pages(token.access_token))
        : [];
      return {
        platformUserId: me.sub,
        username: name,
        tokens: { ...tokenSet(token), scopes },
        accounts,
      };
    },

    refresh: (tokens) =>
      client.refresh(
        tokens,
        "LinkedIn issued no refresh token (programmatic refresh is not enabled for this app)",
      ),

    async revoke(tokens) {
      await client.revoke(tokens.accessToken, "access_token");
      return { revoked: true };
    },
  };
}
