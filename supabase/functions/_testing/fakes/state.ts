// What every fake provider keeps: the one account that "signs in", the codes and tokens it
// issued, how often each endpoint was called, and failures a test asks for. The fakes speak
// the real platforms' HTTP (paths, parameters, JSON shapes, statuses, headers); only the
// consent screen is skipped: the authorize endpoint answers at once, as if the user agreed.
import { Buffer } from "node:buffer";

/** Failures a test can make an endpoint answer with, once or more. */
export type Failure =
  /** 5xx in the platform's own error shape. */
  | "server_error"
  /** Throttled: 429 (or Meta's throttling code) with the platform's rate-limit headers. */
  | "rate_limited"
  /** The grant is dead: invalid_grant / invalid token, as the platform says it. */
  | "invalid_grant"
  /** Publishing: the access token is expired (401, or Graph's code 190). */
  | "expired_token"
  /** Publishing: a permanent refusal in the platform's words (duplicate, bad media...). */
  | "rejected"
  /** Publishing: the post is stored, then no answer comes until the client gives up. */
  | "accept_then_timeout";

/** A post a fake platform holds; `metrics` are what its metrics endpoint reports. */
export type FakePost = {
  id: string;
  author: string;
  text: string;
  media: string[];
  /** When the platform created it (epoch ms); a test may move it back to make an older post. */
  createdAt: number;
  metrics: { likes: number; replies: number; reposts: number; impressions: number };
};

export type FakeAccount = { id: string; username: string; name: string };

export type Grant = { clientId: string; scopes: string[] };
export type CodeGrant = Grant & {
  redirectUri: string;
  codeChallenge?: string;
  expiresAt: number;
};
export type TokenGrant = Grant & { expiresAt: number };

export type FakeOptions = {
  account?: Partial<FakeAccount>;
  /** Lifetime of the access tokens it issues, in seconds. */
  accessTokenTtl?: number;
};

export class FakeState {
  readonly clientId: string;
  readonly clientSecret: string;
  account: FakeAccount;
  /** The scopes the user grants; default: every scope asked for. */
  grantScopes?: string[];
  /** The user refuses consent. */
  deny = false;
  accessTokenTtl: number;
  /** Whether grants come with a refresh token (LinkedIn: only for enabled apps). */
  issueRefreshTokens = true;
  /** A refresh answer without refresh_token (the stored one must then be kept). */
  refreshOmitsRefreshToken = false;
  /** Added before every token endpoint answer, to make overlapping runs overlap. */
  latencyMs = 0;
  /** Calls to an endpoint (e.g. "refresh") wait until its promise settles before answering. */
  readonly holds = new Map<string, Promise<void>>();
  /** Calls per endpoint name, e.g. hits.refresh. */
  readonly hits: Record<string, number> = {};
  readonly codes = new Map<string, CodeGrant>();
  readonly accessTokens = new Map<string, TokenGrant>();
  readonly refreshTokens = new Map<string, Grant>();
  /** Tokens revoked through the platform's revocation endpoint, in order. */
  readonly revoked: string[] = [];
  readonly #failures = new Map<string, Failure[]>();
  /**
   * Refresh tokens whose every refresh request fails, so one connection can be broken while
   * others on the same platform work: a Failure, or "malformed" (200 with an HTML body).
   */
  readonly poisoned = new Map<string, Failure | "malformed">();
  /** Posts published, in order. */
  readonly posts: FakePost[] = [];
  /** How long an accept_then_timeout answer is held back (the client gives up first). */
  hangMs = 30_000;
  /** Meta: the estimated_time_to_regain_access (minutes) a throttled publishing call names. */
  regainAccessMinutes = 7;

  constructor(
    readonly platform: string,
    options: FakeOptions = {},
    defaultTtl = 3600,
  ) {
    this.clientId = `fake-${platform}-client`;
    this.clientSecret = `fake-${platform}-secret`;
    this.account = {
      id: `${platform}-user-1`,
      username: `${platform}_tester`,
      name: "Tess Tester",
      ...options.account,
    };
    this.accessTokenTtl = options.accessTokenTtl ?? defaultTtl;
  }

  /** The next `times` calls to `endpoint` fail with `failure`. */
  failNext(endpoint: string, failure: Failure, times = 1) {
    const queue = this.#failures.get(endpoint) ?? [];
    queue.push(...Array(times).fill(failure));
    this.#failures.set(endpoint, queue);
  }

  /** Counts a call to `endpoint`, waits the latency, and returns the failure to answer with. */
  async enter(endpoint: string, slow = false): Promise<Failure | undefined> {
    this.hits[endpoint] = (this.hits[endpoint] ?? 0) + 1;
    await this.holds.get(endpoint);
    if (slow && this.latencyMs > 0) {
      await new Promise((r) => setTimeout(r, this.latencyMs));
    }
    return this.#failures.get(endpoint)?.shift();
  }

  /** Stores a post and gives it the next id. */
  post(author: string, text: string, media: string[] = []): FakePost {
    const post: FakePost = {
      id: String(1_880_000_000_000 + this.posts.length),
      author,
      text,
      media,
      createdAt: Date.now(),
      metrics: { likes: 3, replies: 1, reposts: 2, impressions: 40 },
    };
    this.posts.push(post);
    return post;
  }

  /** The post with `id` as the platform names it (`name` maps a post to its public id). */
  findPost(id: string, name: (post: FakePost) => string = (post) => post.id) {
    return this.posts.find((post) => name(post) === id);
  }

  /** Holds an accepted request's answer until the client disconnects or hangMs passes. */
  async hang(request: Request): Promise<void> {
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, this.hangMs);
      request.signal.addEventListener("abort", () => {
        clearTimeout(timer);
        resolve();
      });
    });
  }

  /** The scopes granted when `asked` were requested. */
  granted(asked: string[]): string[] {
    return this.grantScopes ?? asked;
  }

  issueCode(grant: Omit<CodeGrant, "clientId" | "expiresAt">): string {
    const code = token(`${this.platform}-code`);
    this.codes.set(code, {
      clientId: this.clientId,
      ...grant,
      expiresAt: Date.now() + 60_000,
    });
    return code;
  }

  /** Takes a token request's code once: a second use finds nothing, as with the real platforms. */
  takeCode(params: URLSearchParams) {
    const code = params.get("code");
    const grant = code ? this.codes.get(code) : undefined;
    if (code) this.codes.delete(code);
    if (
      !grant || grant.clientId !== this.clientId ||
      grant.redirectUri !== params.get("redirect_uri")
    ) return undefined;
    return grant.expiresAt > Date.now() ? grant : undefined;
  }

  issueAccessToken(grant: Grant, ttl = this.accessTokenTtl): string {
    const access = token(`${this.platform}-access`);
    this.accessTokens.set(access, {
      ...grant,
      expiresAt: Date.now() + ttl * 1000,
    });
    return access;
  }

  issueRefreshToken(grant: Grant): string {
    const refresh = token(`${this.platform}-refresh`);
    this.refreshTokens.set(refresh, grant);
    return refresh;
  }

  /** The grant behind a live access token. */
  accessGrant(access: string | undefined): TokenGrant | undefined {
    const grant = access ? this.accessTokens.get(access) : undefined;
    return grant && grant.expiresAt > Date.now() ? grant : undefined;
  }

  revoke(value: string) {
    this.revoked.push(value);
    this.accessTokens.delete(value);
    this.refreshTokens.delete(value);
  }
}

export const token = (prefix: string) =>
  `${prefix}-${
    Buffer.from(crypto.getRandomValues(new Uint8Array(18))).toString(
      "base64url",
    )
  }`;

/** The request's `Authorization: Basic` credentials, or undefined. */
export function basicCredentials(
  request: Request,
): [string, string] | undefined {
  const match = /^Basic\s+(\S+)$/i.exec(request.headers.get("authorization") ?? "");
  if (!match) return undefined;
  const decoded = Buffer.from(match[1], "base64").toString();
  const colon = decoded.indexOf(":");
  if (colon < 0) return undefined;
  return [
    decodeURIComponent(decoded.slice(0, colon).replace(/\+/g, " ")),
    decodeURIComponent(decoded.slice(colon + 1).replace(/\+/g, " ")),
  ];
}

/** The request's `Authorization: Bearer` token, or undefined. */
export const bearer = (request: Request) =>
  /^Bearer\s+(\S+)$/i.exec(request.headers.get("authorization") ?? "")?.[1];

/** RFC 7636 S256: BASE64URL(SHA-256(verifier)). */
export async function s256(verifier: string): Promise<string> {
  const digest = await crypto.subtle.digest(
    "SHA-256",
    new TextEncoder().encode(verifier),
  );
  return Buffer.from(digest).toString("base64url");
}

/** The redirect the browser would follow back to the app's callback. */
export function redirectBack(
  redirectUri: string,
  params: Record<string, string>,
  hash = "",
) {
  const url = new URL(redirectUri);
  for (const [name, value] of Object.entries(params)) {
    url.searchParams.set(name, value);
  }
  return new Response(null, {
    status: 302,
    headers: { location: `${url.href}${hash}` },
  });
}

/** Request parameters from the query string and, for a form POST, the body. */
export async function formParams(request: Request): Promise<URLSearchParams> {
  const params = new URL(request.url).searchParams;
  if (request.method === "POST") {
    for (const [name, value] of new URLSearchParams(await request.text())) {
      params.set(name, value);
    }
  }
  return params;
}

export const json = (
  body: unknown,
  status = 200,
  headers: Record<string, string> = {},
) =>
  new Response(JSON.stringify(body), {
    status,
    headers: { "content-type": "application/json; charset=utf-8", ...headers },
  });
