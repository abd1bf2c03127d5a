// The Resend adapter against the fake Resend over real HTTP: each way an answer can go.
import assert from "node:assert/strict";
import { type ResendFake, startResendFake } from "../../_testing/fakes/resend.ts";
import { createResendClient, type ResendEmail } from "./resend.ts";

const email = (to: string, subject = "Hello"): ResendEmail => ({
  from: "Beacon <news@beacon.example>",
  to: [to],
  subject,
  html: "<p>Hi</p>",
  text: "Hi",
  headers: { "List-Unsubscribe": "<https://t.example/u/1>" },
  tags: [{ name: "beacon_delivery", value: "d-1" }],
});

async function withFake(work: (fake: ResendFake) => Promise<void>) {
  const fake = startResendFake();
  try {
    await work(fake);
  } finally {
    await fake.close();
  }
}

const client = (fake: ResendFake, timeoutMs?: number) =>
  createResendClient({ apiKey: "re_test_key", baseUrl: fake.url, timeoutMs });

Deno.test("a batch is accepted: one Resend id per email, in order", () =>
  withFake(async (fake) => {
    const result = await client(fake).sendBatch([
      email("a@x.example"),
      email("b@x.example"),
    ], "k1");
    assert.equal(result.kind, "accepted");
    assert.ok(result.kind === "accepted");
    assert.deepEqual(
      result.results,
      fake.sent.map((sent) => ({ id: sent.id })),
    );
    assert.deepEqual(fake.sent.map((sent) => sent.to[0]), [
      "a@x.example",
      "b@x.example",
    ]);
    assert.deepEqual(fake.sent[0].headers, {
      "List-Unsubscribe": "<https://t.example/u/1>",
    });
    assert.deepEqual(fake.sent[0].tags, { beacon_delivery: "d-1" });
  }));

Deno.test("an invalid email fails alone with Resend's message (permissive validation)", () =>
  withFake(async (fake) => {
    const result = await client(fake).sendBatch(
      [email("a@x.example"), email("not-an-address"), email("c@x.example", "")],
      "k-mixed",
    );
    assert.ok(result.kind === "accepted");
    assert.deepEqual(result.results.map((r) => "id" in r), [
      true,
      false,
      false,
    ]);
    assert.match(
      (result.results[1] as { error: string }).error,
      /^Invalid `to` field/,
    );
    assert.equal(
      (result.results[2] as { error: string }).error,
      "Missing `subject` field.",
    );
    assert.equal(fake.sent.length, 1);
  }));

Deno.test("the same Idempotency-Key replays the original answer and sends nothing new", () =>
  withFake(async (fake) => {
    const batch = [email("a@x.example"), email("b@x.example")];
    const first = await client(fake).sendBatch(batch, "chunk-7");
    const again = await client(fake).sendBatch(batch, "chunk-7");
    assert.deepEqual(again, first);
    assert.equal(fake.sent.length, 2, "one delivery per recipient");
    assert.equal(fake.requests.batch, 2);

    // Fewer members under the same key (one suppressed meanwhile): Resend already sent them.
    const changed = await client(fake).sendBatch(
      [email("a@x.example")],
      "chunk-7",
    );
    assert.equal(changed.kind, "already_sent");
    assert.match(
      (changed as { message: string }).message,
      /409 invalid_idempotent_request/,
    );
    assert.equal(fake.sent.length, 2, "nothing more was sent");
  }));

Deno.test("a key whose first request is still running answers 409 concurrent: retried later", () =>
  withFake(async (fake) => {
    fake.failNext("batch", { kind: "hang", ms: 300 });
    const batch = [email("a@x.example")];
    const first = client(fake).sendBatch(batch, "chunk-busy");
    await new Promise((resolve) => setTimeout(resolve, 50));
    const second = await client(fake).sendBatch(batch, "chunk-busy");
    assert.equal(second.kind, "unavailable");
    assert.match(
      (second as { message: string }).message,
      /409 concurrent_idempotent_requests/,
    );
    assert.equal((await first).kind, "accepted");
    assert.deepEqual(
      await client(fake).sendBatch(batch, "chunk-busy"),
      await first,
    );
    assert.equal(fake.sent.length, 1);
  }));

Deno.test("a lost answer (sent, then 500) is retried safely under the same key", () =>
  withFake(async (fake) => {
    fake.failNext("batch", { kind: "lost_response" });
    const batch = [email("a@x.example")];
    const lost = await client(fake).sendBatch(batch, "chunk-lost");
    assert.equal(lost.kind, "unavailable");
    assert.match(
      (lost as { message: string }).message,
      /500 application_error/,
    );
    assert.equal(fake.sent.length, 1, "Resend did send it");
    const retried = await client(fake).sendBatch(batch, "chunk-lost");
    assert.deepEqual(retried, {
      kind: "accepted",
      results: [{ id: fake.sent[0].id }],
    });
    assert.equal(fake.sent.length, 1, "and did not send it twice");
  }));

Deno.test("429 is rate_limited with Resend's retry-after", () =>
  withFake(async (fake) => {
    fake.failNext("batch", { kind: "rate_limited", retryAfter: 7 });
    const result = await client(fake).sendBatch([email("a@x.example")], "k429");
    assert.equal(result.kind, "rate_limited");
    assert.equal(
      (result as { retryAfterSeconds: number }).retryAfterSeconds,
      7,
    );
    assert.match(
      (result as { message: string }).message,
      /429 rate_limit_exceeded/,
    );
    assert.equal(fake.sent.length, 0);
    const next = await client(fake).sendBatch([email("a@x.example")], "k429");
    assert.equal(
      next.kind,
      "accepted",
      "the key was not spent by the refused attempt",
    );
  }));

Deno.test("a real rate limit: the second request in the same second gets 429", async () => {
  const fake = startResendFake({ rateLimit: 1 });
  try {
    const first = await client(fake).sendBatch([email("a@x.example")], "r1");
    const second = await client(fake).sendBatch([email("b@x.example")], "r2");
    assert.equal(first.kind, "accepted");
    assert.deepEqual(second.kind, "rate_limited");
  } finally {
    await fake.close();
  }
});

Deno.test("422 for the whole batch is rejected with the provider's message", () =>
  withFake(async (fake) => {
    fake.failNext("batch", {
      kind: "validation_error",
      message: "The `from` domain is not verified.",
    });
    const result = await client(fake).sendBatch([email("a@x.example")], "k422");
    assert.deepEqual(result, {
      kind: "rejected",
      status: 422,
      message: "Resend answered 422 validation_error: The `from` domain is not verified.",
    });
  }));

Deno.test("5xx, a wrong key, no answer in time, and no server are unavailable (retry)", async () => {
  await withFake(async (fake) => {
    fake.failNext("batch", { kind: "server_error", status: 503 });
    const failed = await client(fake).sendBatch([email("a@x.example")], "k5xx");
    assert.deepEqual(failed, {
      kind: "unavailable",
      status: 503,
      message: "Resend answered 503 application_error: An unexpected error occurred.",
    });

    const wrongKey = await createResendClient({
      apiKey: "sk_nope",
      baseUrl: fake.url,
    })
      .sendBatch([email("a@x.example")], "kkey");
    assert.equal(wrongKey.kind, "unavailable");
    assert.match(
      (wrongKey as { message: string }).message,
      /403 invalid_api_key.*check the RESEND_API_KEY/,
    );

    fake.failNext("batch", { kind: "hang", ms: 400 });
    const slow = await client(fake, 100).sendBatch(
      [email("a@x.example")],
      "kslow",
    );
    assert.deepEqual(slow, {
      kind: "unavailable",
      message: "Resend did not answer within 0.1s",
    });
    await new Promise((resolve) => setTimeout(resolve, 400));
  });

  const closed = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = closed.addr.port;
  closed.close();
  const unreachable = await createResendClient({
    apiKey: "re_x",
    baseUrl: `http://127.0.0.1:${port}`,
  }).sendBatch([email("a@x.example")], "knet");
  assert.equal(unreachable.kind, "unavailable");
  assert.match(
    (unreachable as { message: string }).message,
    /^Resend could not be reached: /,
  );
});

Deno.test("a batch holds 1 to 100 emails", async () => {
  const adapter = createResendClient({
    apiKey: "re_x",
    baseUrl: "http://127.0.0.1:9",
  });
  await assert.rejects(adapter.sendBatch([], "k"), /1 to 100 emails, not 0/);
  await assert.rejects(
    adapter.sendBatch(
      Array.from({ length: 101 }, () => email("a@x.example")),
      "k",
    ),
    /not 101/,
  );
});
