import assert from "node:assert/strict";
import { fakeEnv, startFakes } from "./server.ts";

const FUNCTIONS_ENV = new URL(
  "../../../../scripts/local/functions.env",
  import.meta.url,
);

Deno.test("the local stack's settings point every platform at the fakes as served", async () => {
  const text = await Deno.readTextFile(FUNCTIONS_ENV);
  const settings = Object.fromEntries(
    text.split("\n")
      .filter((line) => /^BEACON_(TWITTER|LINKEDIN|FACEBOOK|INSTAGRAM)_/.test(line))
      .map((
        line,
      ) => [
        line.slice(0, line.indexOf("=")),
        line.slice(line.indexOf("=") + 1),
      ]),
  );
  assert.deepEqual(settings, fakeEnv("http://127.0.0.1:54329"));
});

Deno.test("the fakes answer unknown paths with a JSON 404 and count every call", async () => {
  const fakes = await startFakes();
  try {
    const res = await fetch(`${fakes.url}/twitter/2/unknown`);
    assert.equal(res.status, 404);
    assert.equal((await res.json()).error, "not_found");
    const me = await fetch(`${fakes.url}/twitter/2/users/me`, {
      headers: { authorization: "Bearer nope" },
    });
    assert.equal(me.status, 401);
    assert.deepEqual(await me.json(), {
      title: "Unauthorized",
      detail: "Unauthorized",
      type: "about:blank",
      status: 401,
    });
    assert.equal(fakes.twitter.hits.profile, 1);
  } finally {
    await fakes.close();
  }
});
