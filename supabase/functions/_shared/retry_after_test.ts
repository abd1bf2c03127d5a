import assert from "node:assert/strict";
import { retryAfterSeconds } from "./retry_after.ts";

Deno.test("retry-after: seconds, an HTTP date, else ratelimit-reset, else 1", () => {
  const now = Date.parse("2026-11-25T10:00:00Z");
  assert.equal(retryAfterSeconds(new Headers({ "retry-after": "3" }), now), 3);
  assert.equal(
    retryAfterSeconds(new Headers({ "retry-after": "0.2" }), now),
    1,
  );
  assert.equal(
    retryAfterSeconds(
      new Headers({ "retry-after": "Wed, 25 Nov 2026 10:00:30 GMT" }),
      now,
    ),
    30,
  );
  assert.equal(
    retryAfterSeconds(new Headers({ "ratelimit-reset": "4" }), now),
    4,
  );
  assert.equal(retryAfterSeconds(new Headers(), now), 1);
});
