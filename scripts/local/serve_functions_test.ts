import assert from "node:assert/strict";
import { FUNCTIONS_DIR, gateway, loadFunctions } from "./serve_functions.ts";

const ENV_FILE = new URL("./functions.env", import.meta.url);
const HTTP_TS = new URL("../../supabase/functions/_shared/http.ts", import.meta.url).href;

/** A throwaway `supabase/functions`: one function, `echo`, and two folders to skip. */
async function fixtureDir(): Promise<URL> {
  const root = await Deno.makeTempDir({ prefix: "beacon-functions-" });
  await Deno.mkdir(`${root}/echo`);
  await Deno.writeTextFile(
    `${root}/echo/app.ts`,
    `import { createApp } from "${HTTP_TS}";
export const app = createApp("echo");
app.get("/where", (c) => c.json({ path: c.req.path, q: c.req.query("q") }));
app.post("/body", async (c) => c.json(await c.req.json()));
app.get("/client", (c) =>
  c.json({
    forwarded: c.req.header("x-forwarded-for"),
    real: c.req.header("x-real-ip"),
    cloudflare: c.req.header("cf-connecting-ip"),
  }));
`,
  );
  await Deno.writeTextFile(
    `${root}/echo/index.ts`,
    `import { app } from "./app.ts";\nDeno.serve(app.fetch);\n`,
  );
  await Deno.mkdir(`${root}/not-yet-a-function`);
  await Deno.mkdir(`${root}/_shared`);
  await Deno.writeTextFile(`${root}/_shared/app.ts`, `throw new Error("never loaded");\n`);
  return new URL(`file://${root}/`);
}

Deno.test("the gateway serves each function at /functions/v1/<name> over real HTTP", async () => {
  const dir = await fixtureDir();
  const apps = await loadFunctions(dir);
  assert.deepEqual([...apps.keys()], ["echo"]);
  await using server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, gateway(apps));
  const base = `http://127.0.0.1:${server.addr.port}`;
  try {
    let res = await fetch(`${base}/functions/v1/echo/where?q=1`);
    assert.equal(res.status, 200);
    assert.deepEqual(await res.json(), { path: "/echo/where", q: "1" });

    res = await fetch(`${base}/functions/v1/echo/body`, {
      method: "POST",
      body: JSON.stringify({ hello: "world" }),
    });
    assert.deepEqual(await res.json(), { hello: "world" });

    // Who is calling, as Supabase's gateway (Kong under supabase start) says it.
    res = await fetch(`${base}/functions/v1/echo/client`);
    assert.deepEqual(await res.json(), {
      forwarded: "127.0.0.1",
      real: "127.0.0.1",
      cloudflare: "127.0.0.1",
    });
    res = await fetch(`${base}/functions/v1/echo/client`, {
      headers: {
        "x-forwarded-for": "203.0.113.9",
        "x-real-ip": "203.0.113.9",
        "cf-connecting-ip": "198.51.100.4",
      },
    });
    assert.deepEqual(
      await res.json(),
      { forwarded: "203.0.113.9, 127.0.0.1", real: "127.0.0.1", cloudflare: "198.51.100.4" },
      "a list the client started is kept and the address seen is appended; X-Real-IP is " +
        "replaced; a test's CF-Connecting-IP speaks for another client",
    );

    res = await fetch(`${base}/functions/v1/echo/body`);
    assert.equal(res.status, 405, "the function's own error handler answers");
    await res.body?.cancel();

    for (const path of ["/functions/v1/missing/x", "/functions/v1/", "/rest/v1/leads", "/"]) {
      res = await fetch(`${base}${path}`);
      assert.equal(res.status, 404, path);
      assert.equal(res.headers.get("content-type"), "application/json", path);
      assert.equal((await res.json()).error, "not_found", path);
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a function without an exported app fails loading, naming the function", async () => {
  const dir = await fixtureDir();
  try {
    await Deno.mkdir(new URL("broken/", dir));
    await Deno.writeTextFile(new URL("broken/index.ts", dir), "");
    await Deno.writeTextFile(new URL("broken/app.ts", dir), "export const nothing = 1;\n");
    await assert.rejects(loadFunctions(dir), /function "broken".*must export `app`/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("the server script starts on the port asked, answers 404 JSON, stops on SIGTERM", async () => {
  const script = new URL("./serve_functions.ts", import.meta.url);
  const child = new Deno.Command(Deno.execPath(), {
    // The functions' local settings, as scripts/start passes them.
    args: ["run", `--env-file=${ENV_FILE.pathname}`, "-A", script.pathname],
    env: {
      BEACON_FUNCTIONS_PORT: "0",
      NO_COLOR: "1",
      // What scripts/start exports; no request here reaches the database.
      SUPABASE_DB_URL: Deno.env.get("SUPABASE_DB_URL") ??
        "postgresql://postgres:postgres@127.0.0.1:54322/postgres",
      SUPABASE_URL: Deno.env.get("SUPABASE_URL") ?? "http://127.0.0.1:54321",
    },
    stdout: "null",
    stderr: "piped",
  }).spawn();
  const lines = child.stderr.pipeThrough(new TextDecoderStream()).getReader();
  let log = "";
  let port = "";
  while (!port) {
    const { value, done } = await lines.read();
    if (done) break;
    log += value;
    port = log.match(/serving http:\/\/127\.0\.0\.1:(\d+)\//)?.[1] ?? "";
  }
  assert.ok(port, `the server announced its port; it said:\n${log}`);
  const res = await fetch(`http://127.0.0.1:${port}/functions/v1/no-such-function/anything`);
  assert.equal(res.status, 404);
  assert.equal((await res.json()).error, "not_found");

  child.kill("SIGTERM");
  for (;;) {
    const { value, done } = await lines.read();
    if (done) break;
    log += value;
  }
  const status = await child.status;
  assert.equal(status.code, 0, log);
  assert.match(log, /functions: stopped/);
  assert.ok(FUNCTIONS_DIR.pathname.endsWith("/supabase/functions/"));
});
