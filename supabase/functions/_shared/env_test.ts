import assert from "node:assert/strict";
import { z } from "zod";
import { ConfigError, readEnv } from "./env.ts";

const shape = { DB_URL: z.url(), POOL: z.coerce.number().int().positive().default(3) };

Deno.test("readEnv parses and applies defaults", () => {
  assert.deepEqual(readEnv(shape, { DB_URL: "postgres://x@h/db" }), {
    DB_URL: "postgres://x@h/db",
    POOL: 3,
  });
});

Deno.test("readEnv names a missing variable, and treats empty as missing", () => {
  assert.throws(() => readEnv(shape, {}), new ConfigError("configuration: DB_URL is not set"));
  assert.throws(() => readEnv(shape, { DB_URL: "" }), /DB_URL is not set/);
});

Deno.test("readEnv names every malformed variable", () => {
  assert.throws(
    () => readEnv(shape, { DB_URL: "not a url", POOL: "-1" }),
    (err: Error) =>
      err instanceof ConfigError && /DB_URL Invalid URL/.test(err.message) &&
      /POOL Too small/.test(err.message),
  );
});
