// Shared by the oauth function's tests: the four fake platforms on a free port, an app wired
// to them, and the browser's part of the dance (follow the provider's redirect back).
import assert from "node:assert/strict";
import { decrypt, keyRing, tokenContext } from "../_shared/crypto.ts";
import { asService, type UserClaims } from "../_shared/db.ts";
import { type Fakes, startFakes } from "./fakes/server.ts";
import type { Platform } from "../_shared/providers/config.ts";
import { bearerFor, createUser, dbTest, deleteUsers, serviceBearer } from "./harness.ts";
import { createOAuthApp } from "../oauth/app.ts";
import { readOAuthSettings } from "../oauth/settings.ts";

export const APP_ORIGIN = "https://app.beacon.test";
export const CALLBACK_BASE = "https://project.functions.test/functions/v1/oauth";
/** Where a browser with an unknown, expired, used or foreign state is sent. */
export const DEFAULT_RETURN = `${APP_ORIGIN}/start-again`;

export type TestApp = ReturnType<typeof createOAuthApp>;

/** Settings pointing every platform at `fakes`, with `overrides` on top. */
export function testEnv(fakes: Fakes, overrides: Record<string, string> = {}) {
  return {
    ...fakes.env,
    BEACON_OAUTH_REDIRECT_ALLOWLIST: `${APP_ORIGIN},http://localhost:3000/beacon/`,
    BEACON_OAUTH_CALLBACK_BASE_URL: CALLBACK_BASE,
    BEACON_OAUTH_DEFAULT_RETURN_URL: DEFAULT_RETURN,
    ...overrides,
  };
}

export const appFor = (fakes: Fakes, overrides: Record<string, string> = {}) =>
  createOAuthApp(readOAuthSettings(testEnv(fakes, overrides)));

export type Answer = {
  status: number;
  body: Record<string, unknown>;
  location: string | null;
  headers: Headers;
};

/**
 * A browser's cookie jar for the oauth function: what it was sent (Set-Cookie) and sends back.
 * Each test browser is a different person's browser.
 */
export class Browser {
  readonly cookies = new Map<string, string>();
  /** Every Set-Cookie header it received, as it came. */
  readonly received: string[] = [];

  /** The Cookie header it sends, or undefined. */
  cookieHeader(): string | undefined {
    if (this.cookies.size === 0) return undefined;
    return [...this.cookies].map(([name, value]) => `${name}=${value}`).join("; ");
  }

  /** Keeps the cookies of a response (Max-Age=0 deletes one). */
  keep(headers: Headers) {
    for (const line of headers.getSetCookie()) {
      this.received.push(line);
      const [pair] = line.split(";");
      const at = pair.indexOf("=");
      const name = pair.slice(0, at).trim();
      if (/;\s*max-age=0(;|$)/i.test(line)) this.cookies.delete(name);
      else this.cookies.set(name, pair.slice(at + 1).trim());
    }
  }
}

/** The browser of the user who starts connecting, unless a test says otherwise. */
export const usersBrowser = new Browser();

/** Calls the app as Supabase's gateway would (path under /oauth), as a user or the service. */
export async function call(
  app: TestApp,
  method: string,
  path: string,
  as?: UserClaims | "service",
  body?: unknown,
  browser?: Browser,
  extraHeaders: Record<string, string> = {},
): Promise<Answer> {
  const headers: Record<string, string> = {
    "content-type": "application/json",
    ...extraHeaders,
  };
  if (as) {
    headers.authorization = as === "service" ? await serviceBearer() : await bearerFor(as);
  }
  const cookie = browser?.cookieHeader();
  if (cookie) headers.cookie = cookie;
  const res = await app.request(`http://functions.local/oauth${path}`, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  browser?.keep(res.headers);
  const text = await res.text();
  return {
    status: res.status,
    body: !text
      ? {}
      : res.headers.get("content-type")?.includes("json")
      ? JSON.parse(text)
      : { text },
    location: res.headers.get("location"),
    headers: res.headers,
  };
}

/**
 * A browser opening one of the function's own URLs (/go, /callback) as the gateway passes it,
 * with `headers` (e.g. the proxy's client address).
 */
export function visit(
  app: TestApp,
  url: URL,
  browser: Browser = usersBrowser,
  headers: Record<string, string> = {},
): Promise<Answer> {
  assert.ok(url.href.startsWith(CALLBACK_BASE), `a URL of the function: ${url.href}`);
  const path = `${url.pathname.replace("/functions/v1/oauth", "")}${url.search}`;
  return call(app, "GET", path, undefined, undefined, browser, headers);
}

/** POST /{platform}/start; returns the URL the app sends the browser to (/go). */
export async function begin(
  app: TestApp,
  user: UserClaims,
  platform: Platform,
  redirectTo = `${APP_ORIGIN}/settings/connections`,
): Promise<URL> {
  const started = await call(app, "POST", `/${platform}/start`, user, {
    redirect_to: redirectTo,
  });
  assert.equal(started.status, 200, JSON.stringify(started.body));
  assert.deepEqual(Object.keys(started.body), ["url"]);
  return new URL(started.body.url as string);
}

/** POST /{platform}/start, then the browser through /go; returns the platform's authorize URL. */
export async function start(
  app: TestApp,
  user: UserClaims,
  platform: Platform,
  redirectTo?: string,
  browser: Browser = usersBrowser,
): Promise<URL> {
  const went = await visit(app, await begin(app, user, platform, redirectTo), browser);
  assert.equal(went.status, 302, `/go answered ${went.status}: ${JSON.stringify(went.body)}`);
  return new URL(went.location!);
}

/** What the browser does at the provider: open the authorize URL, get sent back. */
export async function authorize(url: URL): Promise<URL> {
  const res = await fetch(url, { redirect: "manual" });
  await res.body?.cancel();
  assert.equal(
    res.status,
    302,
    `the authorize endpoint answered ${res.status}`,
  );
  return new URL(res.headers.get("location")!);
}

/** The browser arriving at our callback: the function's answer (a redirect). */
export function callback(
  app: TestApp,
  back: URL,
  browser: Browser = usersBrowser,
): Promise<Answer> {
  return visit(app, back, browser);
}

/** start → /go → authorize → callback, in one browser; returns where the browser ends up. */
export async function connect(
  app: TestApp,
  user: UserClaims,
  platform: Platform,
  browser: Browser = usersBrowser,
): Promise<URL> {
  const answer = await callback(
    app,
    await authorize(await start(app, user, platform, undefined, browser)),
    browser,
  );
  assert.equal(answer.status, 302, JSON.stringify(answer.body));
  return new URL(answer.location!);
}

export type Row = {
  id: string;
  platform: string;
  platform_user_id: string;
  username: string | null;
  access_token: string;
  refresh_token: string | null;
  expires_at: Date | null;
  is_active: boolean;
  status: string;
  scopes: string[];
  accounts: { id: string; name: string }[];
  last_error: string | null;
  last_refreshed_at: Date | null;
  refresh_failures: number;
  next_refresh_at: Date | null;
};

export async function connectionOf(
  user: UserClaims,
  platform: Platform,
): Promise<Row | undefined> {
  const rows = await asService((tx) =>
    tx<Row[]>`select * from public.social_connections
              where user_id = ${user.sub} and platform = ${platform}`
  );
  return rows[0];
}

/** The plaintext of a stored token, decrypted with its own context. */
export async function plaintext(
  user: UserClaims,
  platform: Platform,
  kind: "access_token" | "refresh_token",
  stored: string,
) {
  return decrypt(
    await keyRing(),
    stored,
    tokenContext(user.sub, platform, kind),
  );
}

/** Makes the user's connections due for a refresh now (as if time had passed). */
export async function makeDue(user: UserClaims, expiresIn = "1 hour") {
  await asService((tx) =>
    tx`update public.social_connections
       set expires_at = now() + ${expiresIn}::interval, next_refresh_at = null
       where user_id = ${user.sub}`
  );
}

export async function withFakes(work: (fakes: Fakes) => Promise<void>) {
  const fakes = await startFakes();
  try {
    await work(fakes);
  } finally {
    await fakes.close();
  }
}

type Scenario = (
  name: string,
  work: (ctx: { fakes: Fakes; app: TestApp; user: UserClaims }) => Promise<void>,
) => void;

/**
 * Tests that each run with fresh fakes, an app wired to them and a new user whose email
 * starts with `label` (so a leftover row tells which suite left it), and clean up after.
 */
export const scenarios = (label: string): Scenario => (name, work) =>
  dbTest(name, () =>
    withFakes(async (fakes) => {
      const user = await createUser(label);
      try {
        await work({ fakes, app: appFor(fakes), user });
      } finally {
        await deleteUsers(user);
      }
    }));
