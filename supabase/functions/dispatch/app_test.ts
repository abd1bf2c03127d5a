// POST /functions/v1/dispatch: for the service role only, its body checked.
import assert from "node:assert/strict";
import { dispatcherWith } from "../_testing/email.ts";
import { bearerFor, createUser, dbTest, deleteUsers, serviceBearer } from "../_testing/harness.ts";
import { createDispatchApp } from "./app.ts";

const outbox = await Deno.makeTempDir({ prefix: "beacon-dispatch-app-" });
const app = createDispatchApp(
  dispatcherWith({ RESEND_API_KEY: "", BEACON_OUTBOX_DIR: outbox }),
);

async function post(body: string | undefined, authorization?: string) {
  const headers: Record<string, string> = {
    "content-type": "application/json",
  };
  if (authorization) headers.authorization = authorization;
  const res = await app.request("/dispatch", { method: "POST", headers, body });
  return { status: res.status, body: await res.json() };
}

dbTest("dispatch answers the service role only", async () => {
  assert.equal((await post("{}")).status, 401);
  const user = await createUser("not-the-service");
  try {
    const refused = await post("{}", await bearerFor(user));
    assert.equal(refused.status, 401);
    assert.match(refused.body.message, /service role only/);
  } finally {
    await deleteUsers(user);
  }
});

dbTest(
  "dispatch runs with an empty body or a valid one, and names a bad field",
  async () => {
    const service = await serviceBearer();
    for (
      const body of [
        undefined,
        "",
        "{}",
        '{"max_chunks": 2, "budget_seconds": 5}',
      ]
    ) {
      const ran = await post(body, service);
      assert.equal(ran.status, 200, JSON.stringify(ran.body));
      assert.equal(ran.body.stopped, "drained");
      assert.match(ran.body.worker, /^dispatch-[0-9a-f-]{36}$/);
    }
    const bad = await post('{"max_chunks": 0}', service);
    assert.equal(bad.status, 400);
    assert.equal(bad.body.fields[0].field, "body.max_chunks");
    const unknown = await post('{"chunks": 1}', service);
    assert.equal(unknown.status, 400);
    assert.match(unknown.body.message, /chunks/);
    assert.equal((await post("nope", service)).body.error, "invalid_json");
    const get = await app.request("/dispatch", {
      headers: { authorization: service },
    });
    assert.equal(get.status, 405);
    await get.body?.cancel();
    await Deno.remove(outbox, { recursive: true });
  },
);

dbTest("dispatch runs only the lanes named, and names a bad lane", async () => {
  const service = await serviceBearer();
  const refused = await post('{"lanes": ["email", "fax"]}', service);
  assert.equal(refused.status, 400);
  assert.match(refused.body.message, /^body\.lanes\.1: /);
  const empty = await post('{"lanes": []}', service);
  assert.equal(empty.status, 400);
  const webhooks = await post('{"lanes": ["webhooks"]}', service);
  assert.equal(webhooks.status, 200, JSON.stringify(webhooks.body));
  assert.equal(webhooks.body.chunks, 0);
  assert.equal(webhooks.body.social.claimed, 0);
  assert.equal(webhooks.body.metrics.claimed, 0);
});
