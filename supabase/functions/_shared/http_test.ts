import assert from "node:assert/strict";
import { z } from "zod";
import { createApp, HttpError, readJson, readQuery } from "./http.ts";

const app = createApp("demo");
app.get("/hello", (c) => c.json({ hello: "world" }));
app.post("/leads", async (c) => {
  const lead = await readJson(c, z.object({ email: z.email(), company: z.string().optional() }));
  return c.json(lead, 201);
});
app.get(
  "/page",
  (c) => c.json(readQuery(c, z.object({ limit: z.coerce.number().int().max(100) }))),
);
app.get("/teapot", () => {
  throw new HttpError(418, "teapot", "This route only brews tea.");
});
app.get("/raw-zod", () => {
  z.object({ name: z.string() }).parse({ name: 1 });
  return new Response("unreachable");
});
app.get("/boom", () => {
  throw new Error("secret internal detail");
});

const call = (path: string, init?: RequestInit) =>
  app.request(`http://functions.local${path}`, init);

Deno.test("a route answers under the function's own path", async () => {
  const res = await call("/demo/hello");
  assert.equal(res.status, 200);
  assert.deepEqual(await res.json(), { hello: "world" });
  assert.match(res.headers.get("x-request-id") ?? "", /\S/);
});

Deno.test("an unknown route is a JSON 404", async () => {
  for (const path of ["/demo/nope", "/other/hello", "/"]) {
    const res = await call(path);
    assert.equal(res.status, 404, path);
    const body = await res.json();
    assert.equal(body.error, "not_found");
    assert.match(body.message, /No route for GET/);
  }
});

Deno.test("a known route with the wrong method is a JSON 405 with Allow", async () => {
  const res = await call("/demo/hello", { method: "DELETE" });
  assert.equal(res.status, 405);
  assert.equal(res.headers.get("allow"), "GET");
  const body = await res.json();
  assert.equal(body.error, "method_not_allowed");
  assert.deepEqual(body.allowed, ["GET"]);
});

Deno.test("a body failing its schema is a 400 naming the field", async () => {
  const res = await call("/demo/leads", {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ email: "not-an-email" }),
  });
  assert.equal(res.status, 400);
  const body = await res.json();
  assert.equal(body.error, "invalid_request");
  assert.equal(body.fields.length, 1);
  assert.equal(body.fields[0].field, "body.email");
  assert.match(body.message, /^body\.email: /);
});

Deno.test("a valid body passes through parsed", async () => {
  const res = await call("/demo/leads", {
    method: "POST",
    body: JSON.stringify({ email: "ada@example.com", company: "Analytical" }),
  });
  assert.equal(res.status, 201);
  assert.deepEqual(await res.json(), { email: "ada@example.com", company: "Analytical" });
});

Deno.test("a body that is not JSON is a 400 invalid_json", async () => {
  const res = await call("/demo/leads", { method: "POST", body: "{nope" });
  assert.equal(res.status, 400);
  assert.equal((await res.json()).error, "invalid_json");
});

Deno.test("a bad query value is a 400 naming the parameter", async () => {
  const res = await call("/demo/page?limit=1000");
  assert.equal(res.status, 400);
  assert.equal((await res.json()).fields[0].field, "query.limit");
  assert.deepEqual(await (await call("/demo/page?limit=5")).json(), { limit: 5 });
});

Deno.test("a zod error thrown anywhere is a 400 naming the field", async () => {
  const res = await call("/demo/raw-zod");
  assert.equal(res.status, 400);
  assert.equal((await res.json()).fields[0].field, "name");
});

Deno.test("an HttpError keeps its status and code", async () => {
  const res = await call("/demo/teapot");
  assert.equal(res.status, 418);
  assert.deepEqual(await res.json(), {
    error: "teapot",
    message: "This route only brews tea.",
  });
});

Deno.test("an unexpected error is a 500 with a request id and no internals", async () => {
  const logged: unknown[][] = [];
  const original = console.error;
  console.error = (...args: unknown[]) => logged.push(args);
  try {
    const res = await call("/demo/boom", { headers: { "x-request-id": "req-123" } });
    assert.equal(res.status, 500);
    const text = await res.text();
    assert.doesNotMatch(text, /secret internal detail|at .*http_test\.ts/);
    const body = JSON.parse(text);
    assert.equal(body.error, "internal_error");
    assert.equal(body.request_id, "req-123");
    assert.equal(res.headers.get("x-request-id"), "req-123");
  } finally {
    console.error = original;
  }
  assert.equal(logged.length, 1, "the error is logged on the server");
  assert.match(String(logged[0][0]), /req-123/);
});

Deno.test("browsers get CORS headers, on errors too, and preflights succeed", async () => {
  const preflight = await call("/demo/leads", {
    method: "OPTIONS",
    headers: {
      origin: "https://app.example",
      "access-control-request-method": "POST",
      "access-control-request-headers": "authorization, content-type",
    },
  });
  assert.equal(preflight.status, 204);
  assert.equal(preflight.headers.get("access-control-allow-origin"), "*");
  assert.match(preflight.headers.get("access-control-allow-headers") ?? "", /authorization/);
  assert.match(preflight.headers.get("access-control-allow-methods") ?? "", /POST/);

  for (const path of ["/demo/hello", "/demo/nope", "/demo/boom"]) {
    const original = console.error;
    console.error = () => {};
    try {
      const res = await call(path, { headers: { origin: "https://app.example" } });
      await res.body?.cancel();
      assert.equal(res.headers.get("access-control-allow-origin"), "*", path);
    } finally {
      console.error = original;
    }
  }
});
