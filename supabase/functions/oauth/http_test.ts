// The whole dance over real HTTP: the function's deployed entry point (index.ts with only its
// own deno.json, as `supabase functions deploy` bundles it) served in its own process on a
// free port, the fake platforms on another, and this test as the browser following redirects.
import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { startFakes } from "../_testing/fakes/server.ts";
import { bearerFor, createUser, dbTest, deleteUsers, serviceBearer } from "../_testing/harness.ts";
import { connectionOf, makeDue, plaintext } from "../_testing/oauth.ts";

const ENTRY = fileURLToPath(new URL("./index.ts", import.meta.url));
const CONFIG = fileURLToPath(new URL("./deno.json", import.meta.url));
const APP = "http://localhost:3000";

function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const { port } = listener.addr as Deno.NetAddr;
  listener.close();
  return port;
}

/** Serves oauth/index.ts on `port` with `env`; resolves once it answers, throws if it dies. */
async function serveFunction(port: number, env: Record<string, string>) {
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--no-lock",
      "--config",
      CONFIG,
      "--allow-net",
      "--allow-env",
      "--allow-read",
      "--allow-sys",
      ENTRY,
    ],
    env: { ...env, DENO_SERVE_ADDRESS: `tcp:127.0.0.1:${port}`, DENO_NO_PACKAGE_JSON: "1" },
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  let log = "";
  const collect = (stream: ReadableStream<Uint8Array>) =>
    stream.pipeThrough(new TextDecoderStream()).pipeTo(
      new WritableStream({
        write(chunk) {
          log += chunk;
        },
      }),
    );
  const reading = Promise.all([collect(child.stdout), collect(child.stderr)]);
  let exited = false;
  const status = child.status.finally(() => {
    exited = true;
  });
  const base = `http://127.0.0.1:${port}`;
  for (let i = 0; !exited && i < 300; i++) {
    try {
      const res = await fetch(`${base}/oauth/`);
      await res.body?.cancel();
      break;
    } catch {
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }
  if (exited) {
    await reading;
    throw new Error(`the oauth function exited (${(await status).code}):\n${log}`);
  }
  return {
    base,
    log: () => log,
    async stop() {
      if (!exited) child.kill("SIGTERM");
      await status;
      await reading;
    },
  };
}

dbTest("over real HTTP: start → provider → callback → stored → refresh → disconnect", async () => {
  const fakes = await startFakes();
  const port = freePort();
  const server = await serveFunction(port, {
    ...fakes.env,
    BEACON_OAUTH_REDIRECT_ALLOWLIST: APP,
    // Served without the gateway, so without its /functions/v1 prefix.
    BEACON_OAUTH_CALLBACK_BASE_URL: `http://127.0.0.1:${port}/oauth`,
  });
  const user = await createUser("dance");
  try {
    const authorization = await bearerFor(user);

    // The app asks where to send the user.
    let res = await fetch(`${server.base}/oauth/twitter/start`, {
      method: "POST",
      headers: { authorization, "content-type": "application/json" },
      body: JSON.stringify({ redirect_to: `${APP}/connections` }),
    });
    assert.equal(res.status, 200, server.log());
    const { url } = await res.json();
    assert.ok(url.startsWith(`${server.base}/oauth/twitter/go?state=`), url);

    // The browser at /go: gets the state's cookie (not Secure: plain http on this machine)
    // and is sent on to X.
    res = await fetch(url, { redirect: "manual" });
    await res.body?.cancel();
    assert.equal(res.status, 302, server.log());
    const [setCookie] = res.headers.getSetCookie();
    assert.match(
      setCookie,
      /^beacon_oauth_[0-9a-f]{16}=[\w-]+; Max-Age=600; Path=\/oauth\/; HttpOnly; SameSite=Lax$/,
    );
    const cookie = setCookie.split(";")[0];
    const provider = res.headers.get("location")!;
    assert.ok(provider.startsWith(`${fakes.url}/twitter/i/oauth2/authorize?`), provider);

    // The browser at X: consent, then sent back to our callback with code and state.
    res = await fetch(provider, { redirect: "manual" });
    await res.body?.cancel();
    assert.equal(res.status, 302);
    const callback = res.headers.get("location")!;
    assert.ok(callback.startsWith(`${server.base}/oauth/twitter/callback?`), callback);

    // Another browser at our callback (no cookie): sent back to the app, nothing changes.
    res = await fetch(callback, { redirect: "manual" });
    await res.body?.cancel();
    assert.equal(res.status, 302, server.log());
    assert.equal(res.headers.get("location"), `${APP}/?error=invalid_state&platform=twitter`);

    // The user's browser at our callback: sent back to the app, connected.
    res = await fetch(callback, { redirect: "manual", headers: { cookie } });
    await res.body?.cancel();
    assert.equal(res.status, 302, server.log());
    assert.equal(res.headers.get("location"), `${APP}/connections?connected=twitter`);
    assert.equal(res.headers.get("cache-control"), "no-store");

    // The same callback again (a replay, even with the cookie) finds no state: back to the app.
    res = await fetch(callback, { redirect: "manual", headers: { cookie } });
    await res.body?.cancel();
    assert.equal(res.status, 302);
    assert.equal(res.headers.get("location"), `${APP}/?error=invalid_state&platform=twitter`);

    const row = (await connectionOf(user, "twitter"))!;
    assert.ok(row, "the connection is stored");
    assert.match(row.access_token, /^v\d+\./);
    const access = await plaintext(user, "twitter", "access_token", row.access_token);
    assert.ok(fakes.twitter.accessGrant(access), "its access token decrypts to the live one");

    // An hour later the cron job's call refreshes it.
    await makeDue(user);
    res = await fetch(`${server.base}/oauth/refresh`, {
      method: "POST",
      headers: { authorization: await serviceBearer(), "content-type": "application/json" },
      body: JSON.stringify({ user_ids: [user.sub] }),
    });
    assert.equal(res.status, 200, server.log());
    assert.deepEqual(await res.json(), { refreshed: 1, failed: 0, deactivated: 0, superseded: 0 });
    const refreshed = (await connectionOf(user, "twitter"))!;
    assert.notEqual(refreshed.access_token, row.access_token);
    assert.equal(fakes.twitter.hits.refresh, 1);

    // The user disconnects: revoked at X, forgotten here.
    res = await fetch(`${server.base}/oauth/twitter`, {
      method: "DELETE",
      headers: { authorization },
    });
    assert.equal(res.status, 200);
    assert.deepEqual(await res.json(), { platform: "twitter", disconnected: true, revoked: true });
    assert.equal(await connectionOf(user, "twitter"), undefined);
    assert.equal(fakes.twitter.revoked.length, 2, "access and refresh token revoked");
  } finally {
    await deleteUsers(user);
    await server.stop();
    await fakes.close();
  }
});
