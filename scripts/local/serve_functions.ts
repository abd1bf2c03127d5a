// Serves every edge function the way the Supabase gateway does, without Docker:
// `http://127.0.0.1:54321/functions/v1/<name>/...` reaches the Hono app exported by
// `supabase/functions/<name>/app.ts` with the path `/<name>/...` (the gateway strips
// `/functions/v1`). Each function's `index.ts`, which Supabase deploys, only does
// `Deno.serve(app.fetch)`.
//
// Like the gateway in front of the functions under `supabase start` (Kong), it tells a
// function who is calling: X-Forwarded-For gets the client's address appended (a list the
// client started is kept, the address this gateway saw is its right-most entry) and X-Real-IP
// is that address. It also stands in for Cloudflare, in front of hosted Supabase, whose
// CF-Connecting-IP is the header Beacon reads the client's address from by default
// (BEACON_CLIENT_IP_HEADER): it sets it to the address it saw unless the request carries one,
// which lets a test speak as other clients.
//
//   deno run --allow-net --allow-read --allow-env scripts/local/serve_functions.ts
//
// Port: BEACON_FUNCTIONS_PORT (default 54321). Stops cleanly on SIGINT or SIGTERM.

/** What a function's `app.ts` exports as `app`: anything with a fetch handler. */
export type FunctionApp = { fetch: (request: Request) => Response | Promise<Response> };

const PREFIX = "/functions/v1/";

/** `supabase/functions` next to this checkout's `scripts/`. */
export const FUNCTIONS_DIR = new URL("../../supabase/functions/", import.meta.url);

const exists = (file: URL) => Deno.stat(file).then(() => true, () => false);

/**
 * Loads `<dir>/<name>/app.ts` for every function: a directory with an `index.ts`, as for
 * `supabase functions deploy` (so not `_shared`, nor a folder still being written).
 */
export async function loadFunctions(dir: URL = FUNCTIONS_DIR): Promise<Map<string, FunctionApp>> {
  const names: string[] = [];
  for await (const entry of Deno.readDir(dir)) {
    if (
      entry.isDirectory && !entry.name.startsWith("_") && !entry.name.startsWith(".") &&
      await exists(new URL(`${entry.name}/index.ts`, dir))
    ) {
      names.push(entry.name);
    }
  }
  const apps = new Map<string, FunctionApp>();
  for (const name of names.sort()) {
    const file = new URL(`${name}/app.ts`, dir);
    let app: unknown;
    try {
      ({ app } = await import(file.href));
    } catch (err) {
      throw new Error(`function "${name}" failed to load from ${file.pathname}: ${err}`);
    }
    if (typeof (app as FunctionApp)?.fetch !== "function") {
      throw new Error(`function "${name}": ${file.pathname} must export \`app\` (a Hono app)`);
    }
    apps.set(name, app as FunctionApp);
  }
  return apps;
}

function notFound(message: string): Response {
  return Response.json({ error: "not_found", message }, {
    status: 404,
    headers: { "access-control-allow-origin": "*" },
  });
}

/** The request's headers as the gateway forwards them: with the client's address added. */
export function forwardedHeaders(headers: Headers, client: Deno.Addr): Headers {
  const forwarded = new Headers(headers);
  if (client.transport !== "tcp" && client.transport !== "udp") return forwarded;
  const address = client.hostname;
  const list = headers.get("x-forwarded-for");
  forwarded.set("x-forwarded-for", list ? `${list}, ${address}` : address);
  forwarded.set("x-real-ip", address);
  if (!headers.has("cf-connecting-ip")) forwarded.set("cf-connecting-ip", address);
  return forwarded;
}

/** The gateway: routes `/functions/v1/<name>/...` to `<name>`'s app as `/<name>/...`. */
export function gateway(
  apps: Map<string, FunctionApp>,
): (request: Request, info: Deno.ServeHandlerInfo) => Promise<Response> {
  return async (request, info) => {
    const url = new URL(request.url);
    if (!url.pathname.startsWith(PREFIX)) {
      return notFound(
        `Only edge functions are served here, under ${PREFIX}<name>. ` +
          "PostgREST and Auth are not part of the Docker-free stack: use the database URL, " +
          "or `supabase start` where Docker exists.",
      );
    }
    const rest = url.pathname.slice(PREFIX.length - 1);
    const name = rest.split("/")[1];
    const app = apps.get(name);
    if (!name || !app) {
      const known = apps.size ? [...apps.keys()].join(", ") : "none yet";
      return notFound(
        name
          ? `No function named "${name}". Functions: ${known}.`
          : `Name a function: ${PREFIX}<name>.`,
      );
    }
    url.pathname = rest;
    // A fresh request rather than `new Request(url, request)`, which would copy (and so
    // observe) the incoming abort signal and make Deno warn about its legacy semantics.
    const { method, body } = request;
    const headers = forwardedHeaders(request.headers, info.remoteAddr);
    return await app.fetch(new Request(url, { method, headers, body }));
  };
}

if (import.meta.main) {
  const port = Number(Deno.env.get("BEACON_FUNCTIONS_PORT") ?? "54321");
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    console.error(`BEACON_FUNCTIONS_PORT must be a port number, not "${port}"`);
    Deno.exit(2);
  }
  let apps: Map<string, FunctionApp>;
  try {
    apps = await loadFunctions();
  } catch (err) {
    console.error(`functions: ${err instanceof Error ? err.message : err}`);
    Deno.exit(1);
  }
  let server: Deno.HttpServer;
  try {
    server = Deno.serve({
      hostname: "127.0.0.1",
      port,
      onListen: ({ hostname, port }) => {
        const names = apps.size ? [...apps.keys()].join(", ") : "none yet";
        console.error(`functions: serving http://${hostname}:${port}${PREFIX}<name> (${names})`);
      },
    }, gateway(apps));
  } catch (err) {
    if (!(err instanceof Deno.errors.AddrInUse)) throw err;
    console.error(
      `functions: port ${port} is taken; stop what uses it or set BEACON_FUNCTIONS_PORT`,
    );
    Deno.exit(1);
  }
  const stop = () => server.shutdown();
  Deno.addSignalListener("SIGINT", stop);
  Deno.addSignalListener("SIGTERM", stop);
  await server.finished;
  console.error("functions: stopped");
  // Functions may hold open database pools; nothing is left to serve, so do not wait for them.
  Deno.exit(0);
}
