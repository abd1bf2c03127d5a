// Serves the four fake platforms over real HTTP on one port, each under its own prefix
// (/twitter, /linkedin, /facebook, /instagram), and says which settings point the adapters
// in `_shared/providers/` at them. Tests start it on a free port; the local stack can run it
// for a demo that never leaves the machine:
//
//   deno run --allow-net --allow-env supabase/functions/_testing/fakes/server.ts [--print-env]
//
// Port: BEACON_FAKES_PORT (default 54329). The client ids and secrets are public and fake.
// --print-env prints the settings (NAME=value lines) pointing at that port and exits: on another
// port than functions.env's, scripts/start exports them for the functions.
import { facebookFake } from "./facebook.ts";
import { instagramFake } from "./instagram.ts";
import { linkedinFake } from "./linkedin.ts";
import { type FakeOptions, json } from "./state.ts";
import { twitterFake } from "./twitter.ts";
import type { Platform } from "../../_shared/providers/config.ts";

/** A 1×1 PNG served at /media/<name>, the media the fake platforms' tests post. */
const PIXEL = Uint8Array.from(
  atob(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==",
  ),
  (c) => c.charCodeAt(0),
);

/** Zero bytes standing for a 48 KB video. */
const VIDEO = new Uint8Array(48 * 1024);

/** /media/<name>: a .mp4 is a video, a .gif a GIF, anything else the PNG pixel. */
function mediaFile(path: string): Response {
  const [body, type] = path.endsWith(".mp4")
    ? [VIDEO, "video/mp4"]
    : path.endsWith(".gif")
    ? [PIXEL, "image/gif"]
    : [PIXEL, "image/png"];
  return new Response(body, { headers: { "content-type": type } });
}

export type Route = (request: Request) => Promise<Response>;

export type Fakes = Awaited<ReturnType<typeof startFakes>>;

/** The author each fake files the default targets' posts under (a post placed by a test, too). */
export const authorOn = (fakes: Fakes, platform: Platform) =>
  ({
    twitter: fakes.twitter.account.id,
    linkedin: `urn:li:person:${fakes.linkedin.account.id}`,
    facebook: "page-1",
    instagram: fakes.instagram.account.id,
  })[platform];

/** The settings that point every platform at fakes served from `base`. */
export function fakeEnv(base: string): Record<string, string> {
  const platform = (name: string, paths: Record<string, string>) =>
    Object.fromEntries([
      [`BEACON_${name.toUpperCase()}_CLIENT_ID`, `fake-${name}-client`],
      [`BEACON_${name.toUpperCase()}_CLIENT_SECRET`, `fake-${name}-secret`],
      ...Object.entries(paths).map(([setting, path]) => [
        `BEACON_${name.toUpperCase()}_${setting}`,
        `${base}/${name}${path}`,
      ]),
    ]);
  return {
    ...platform("twitter", {
      AUTHORIZE_URL: "/i/oauth2/authorize",
      TOKEN_URL: "/2/oauth2/token",
      API_URL: "",
      REVOKE_URL: "/2/oauth2/revoke",
    }),
    // The Posts API version the adapter sends; the fake accepts OLDEST_LINKEDIN_VERSION on.
    BEACON_LINKEDIN_VERSION: "202511",
    ...platform("linkedin", {
      AUTHORIZE_URL: "/oauth/v2/authorization",
      TOKEN_URL: "/oauth/v2/accessToken",
      API_URL: "",
      REVOKE_URL: "/oauth/v2/revoke",
    }),
    ...platform("facebook", {
      AUTHORIZE_URL: "/v21.0/dialog/oauth",
      TOKEN_URL: "/v21.0/oauth/access_token",
      API_URL: "/v21.0",
    }),
    ...platform("instagram", {
      AUTHORIZE_URL: "/oauth/authorize",
      TOKEN_URL: "/oauth/access_token",
      API_URL: "",
    }),
  };
}

/**
 * The route for `method` and the path `segments`: an exact key first, then a key whose `:name`
 * segments stand for any one segment (e.g. "POST /v21.0/:page/feed").
 */
function findRoute(routes: Record<string, Route>, method: string, segments: string[]) {
  const exact = routes[`${method} /${segments.join("/")}`];
  if (exact) return exact;
  const pattern = Object.keys(routes).find((key) => {
    const [verb, path] = key.split(" ");
    const parts = path.split("/").slice(1);
    return verb === method && parts.length === segments.length &&
      parts.every((part, i) => part.startsWith(":") || part === segments[i]);
  });
  return pattern ? routes[pattern] : undefined;
}

/** Starts the four fakes on 127.0.0.1:`port` (0: any free port). */
export async function startFakes(port = 0, options: FakeOptions = {}) {
  const twitter = twitterFake(options);
  const linkedin = await linkedinFake(options);
  const facebook = facebookFake(options);
  const instagram = instagramFake(options);
  const byPrefix: Record<string, Record<string, Route>> = {
    twitter: twitter.routes,
    linkedin: linkedin.routes,
    facebook: facebook.routes,
    instagram: instagram.routes,
    media: {
      "GET /:name": (request) => Promise.resolve(mediaFile(new URL(request.url).pathname)),
    },
  };

  const server = Deno.serve(
    { hostname: "127.0.0.1", port, onListen() {} },
    (request) => {
      const url = new URL(request.url);
      const [, prefix, ...rest] = url.pathname.split("/");
      const route = findRoute(byPrefix[prefix] ?? {}, request.method, rest);
      if (!route) {
        return json({
          error: "not_found",
          message: `${request.method} ${url.pathname}`,
        }, 404);
      }
      return route(request);
    },
  );
  const url = `http://127.0.0.1:${server.addr.port}`;

  return {
    url,
    env: fakeEnv(url),
    twitter: twitter.state,
    linkedin: linkedin.state,
    facebook: facebook.state,
    instagram: instagram.state,
    setFacebookPages: facebook.setPages,
    setLinkedinOrganizations: linkedin.setOrganizations,
    close: () => server.shutdown(),
    finished: server.finished,
  };
}

if (import.meta.main) {
  const port = Number(Deno.env.get("BEACON_FAKES_PORT") ?? "54329");
  if (Deno.args.includes("--print-env")) {
    for (const [name, value] of Object.entries(fakeEnv(`http://127.0.0.1:${port}`))) {
      console.log(`${name}=${value}`);
    }
    Deno.exit(0);
  }
  const fakes = await startFakes(port);
  console.error(
    `fakes: X, LinkedIn, Facebook and Instagram on ${fakes.url}/<platform>`,
  );
  const stop = () => fakes.close();
  Deno.addSignalListener("SIGINT", stop);
  Deno.addSignalListener("SIGTERM", stop);
  await fakes.finished;
}
