import assert from "node:assert/strict";
import { runLoop } from "./cron_loop.ts";

/** A functions server that counts calls; /oauth/refresh fails. */
function fakeFunctions() {
  const calls: { path: string; authorization: string | null }[] = [];
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen() {} },
    async (req) => {
      await req.text();
      const path = new URL(req.url).pathname.replace("/functions/v1", "");
      calls.push({ path, authorization: req.headers.get("authorization") });
      return path === "/oauth/refresh"
        ? Response.json({ error: "not_found" }, { status: 404 })
        : Response.json({ sent: 0 });
    },
  );
  return {
    calls,
    url: `http://127.0.0.1:${server.addr.port}/functions/v1`,
    server,
  };
}

Deno.test("the loop calls each job on its interval with the service key, logging a failure once", async () => {
  const fake = fakeFunctions();
  const lines: string[] = [];
  const stop = new AbortController();
  const loop = runLoop({
    functionsUrl: fake.url,
    serviceKey: "service-key",
    jobs: [{ path: "/dispatch", everyMs: 40 }, {
      path: "/oauth/refresh",
      everyMs: 60,
    }],
    log: (line) => lines.push(line),
  }, stop.signal);
  await new Promise((resolve) => setTimeout(resolve, 330));
  stop.abort();
  await loop;
  await fake.server.shutdown();

  const dispatches = fake.calls.filter((c) => c.path === "/dispatch").length;
  const refreshes = fake.calls.filter((c) => c.path === "/oauth/refresh").length;
  assert.ok(dispatches >= 3, `${dispatches} dispatch calls`);
  assert.ok(refreshes >= 2, `${refreshes} refresh calls`);
  assert.ok(fake.calls.every((c) => c.authorization === "Bearer service-key"));
  assert.deepEqual(lines, [
    `cron: POST /oauth/refresh failed: 404 {"error":"not_found"}`,
  ]);
});

Deno.test("the script stops cleanly on SIGTERM", async () => {
  const fake = fakeFunctions();
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--allow-net",
      "--allow-env",
      new URL("./cron_loop.ts", import.meta.url).pathname,
    ],
    env: {
      FUNCTIONS_URL: fake.url,
      SUPABASE_SERVICE_ROLE_KEY: "k",
      NO_COLOR: "1",
    },
    stderr: "piped",
    stdout: "null",
  }).spawn();
  const reader = child.stderr.pipeThrough(new TextDecoderStream()).getReader();
  let log = "";
  while (!fake.calls.some((c) => c.path === "/dispatch")) {
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  child.kill("SIGTERM");
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    log += value;
  }
  assert.equal((await child.status).code, 0, log);
  assert.match(log, /cron: stopped/);
  await fake.server.shutdown();
});
