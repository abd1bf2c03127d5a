// secrets: users store API keys (e.g. RESEND_API_KEY) encrypted with keys Postgres never
// sees. Write-only for clients: they list names and dates through the user_secrets table;
// no route ever answers with a plaintext.
//
//   PUT    /functions/v1/secrets/{NAME}   {"value": "..."}  → 201 created | 200 replaced
//   DELETE /functions/v1/secrets/{NAME}                     → 204 | 404
//   POST   /functions/v1/secrets/rotate  (service role)     → re-encrypt under the newest key
import { z } from "zod";
import { requireService, requireUser } from "../_shared/auth.ts";
import { asUser } from "../_shared/db.ts";
import { createApp, HttpError, readJson, readParams } from "../_shared/http.ts";
import { rotateKeys } from "../_shared/rotation.ts";
import { MAX_SECRET_BYTES, SECRET_NAME, storeUserSecret } from "../_shared/secrets.ts";
import { deleteSecret } from "./queries.ts";

const Params = z.object({
  name: z.string().regex(
    SECRET_NAME,
    "must start with A-Z and hold only A-Z, 0-9 and _ (at most 64), e.g. RESEND_API_KEY",
  ),
});

const Body = z.object({
  value: z.string().min(1, "must not be empty").refine(
    (value) => new TextEncoder().encode(value).length <= MAX_SECRET_BYTES,
    `must be at most ${MAX_SECRET_BYTES} bytes`,
  ),
});

export const app = createApp("secrets");

app.post("/rotate", requireService, async (c) => c.json(await rotateKeys()));

app.put("/:name", requireUser, async (c) => {
  const { name } = readParams(c, Params);
  const { value } = await readJson(c, Body);
  const row = await storeUserSecret(c.get("user").sub, name, value);
  return c.json(
    { name, created_at: row.created_at, updated_at: row.updated_at },
    row.created ? 201 : 200,
  );
});

app.delete("/:name", requireUser, async (c) => {
  const { name } = readParams(c, Params);
  const deleted = await asUser(c.get("user"), (tx) => deleteSecret(tx, name));
  if (!deleted) {
    throw new HttpError(404, "not_found", `You have no secret named ${name}.`);
  }
  return c.body(null, 204);
});
