import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import {
  decrypt,
  encrypt,
  keyRing,
  parseKeyRing,
  secretContext,
  tokenContext,
} from "../_shared/crypto.ts";
import { asService, asUser, type UserClaims } from "../_shared/db.ts";
import { rotateKeys } from "../_shared/rotation.ts";
import { readUserSecret } from "../_shared/secrets.ts";
import { bearerFor, createUser, dbTest, deleteUsers, serviceBearer } from "../_testing/harness.ts";
import { app } from "./app.ts";

async function call(method: string, path: string, user?: UserClaims | "service", body?: unknown) {
  const headers: Record<string, string> = { "content-type": "application/json" };
  if (user) {
    headers.authorization = user === "service" ? await serviceBearer() : await bearerFor(user);
  }
  const res = await app.request(`/secrets${path}`, {
    method,
    headers,
    body: body === undefined ? undefined : typeof body === "string" ? body : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : null };
}

const storedValue = async (user: UserClaims, name: string) =>
  (await asService((tx) =>
    tx`select encrypted_value from public.user_secrets where user_id = ${user.sub} and secret_name = ${name}`
  ))[0]?.encrypted_value as string | undefined;

dbTest(
  "PUT stores an encrypted secret, PUT again replaces it; only the helper reads it",
  async () => {
    const alice = await createUser("alice");
    try {
      const created = await call("PUT", "/RESEND_API_KEY", alice, { value: "re_123" });
      assert.equal(created.status, 201);
      assert.equal(created.body.name, "RESEND_API_KEY");
      assert.equal(JSON.stringify(created.body).includes("re_123"), false);
      const first = await storedValue(alice, "RESEND_API_KEY");
      assert.ok(first && !first.includes("re_123"));

      const replaced = await call("PUT", "/RESEND_API_KEY", alice, { value: "re_456" });
      assert.equal(replaced.status, 200);
      const second = await storedValue(alice, "RESEND_API_KEY");
      assert.notEqual(second, first);
      assert.equal(await readUserSecret(alice.sub, "RESEND_API_KEY"), "re_456");

      const listed = await asUser(alice, (tx) => tx`select secret_name from public.user_secrets`);
      assert.deepEqual(listed.map((r) => r.secret_name), ["RESEND_API_KEY"]);
    } finally {
      await deleteUsers(alice);
    }
  },
);

dbTest(
  "bad names, bodies and tokens are refused with a clear error and store nothing",
  async () => {
    const alice = await createUser("alice");
    try {
      const badName = await call("PUT", "/resend_key", alice, { value: "x" });
      assert.equal(badName.status, 400);
      assert.match(badName.body.message, /params\.name: must start with A-Z/);
      const empty = await call("PUT", "/KEY", alice, { value: "" });
      assert.equal(empty.status, 400);
      assert.match(empty.body.message, /body\.value: must not be empty/);
      const huge = await call("PUT", "/KEY", alice, { value: "x".repeat(8193) });
      assert.match(huge.body.message, /body\.value: must be at most 8192 bytes/);
      const notJson = await call("PUT", "/KEY", alice, "{not json");
      assert.equal(notJson.body.error, "invalid_json");
      const anonymous = await call("PUT", "/KEY", undefined, { value: "x" });
      assert.equal(anonymous.status, 401);
      const rows = await asService((tx) =>
        tx`select 1 from public.user_secrets where user_id = ${alice.sub}`
      );
      assert.equal(rows.length, 0);
    } finally {
      await deleteUsers(alice);
    }
  },
);

dbTest("a second user cannot read, replace or delete the first user's secret by name", async () => {
  const alice = await createUser("alice");
  const mallory = await createUser("mallory");
  try {
    await call("PUT", "/API_KEY", alice, { value: "alice-value" });
    assert.equal((await call("DELETE", "/API_KEY", mallory)).status, 404);
    assert.equal((await call("PUT", "/API_KEY", mallory, { value: "mallory-value" })).status, 201);
    assert.equal(await readUserSecret(alice.sub, "API_KEY"), "alice-value");
    assert.equal(await readUserSecret(mallory.sub, "API_KEY"), "mallory-value");

    // Copying alice's ciphertext into mallory's row does not give mallory alice's value.
    await asService((tx) =>
      tx`update public.user_secrets set encrypted_value = (
           select encrypted_value from public.user_secrets
           where user_id = ${alice.sub} and secret_name = 'API_KEY')
         where user_id = ${mallory.sub} and secret_name = 'API_KEY'`
    );
    await assert.rejects(readUserSecret(mallory.sub, "API_KEY"), /another owner or name/);
  } finally {
    await deleteUsers(alice, mallory);
  }
});

dbTest("DELETE removes the secret; deleting it again is 404", async () => {
  const alice = await createUser("alice");
  try {
    await call("PUT", "/OLD_KEY", alice, { value: "v" });
    assert.equal((await call("DELETE", "/OLD_KEY", alice)).status, 204);
    assert.equal(await readUserSecret(alice.sub, "OLD_KEY"), null);
    const again = await call("DELETE", "/OLD_KEY", alice);
    assert.equal(again.status, 404);
    assert.match(again.body.message, /no secret named OLD_KEY/);
  } finally {
    await deleteUsers(alice);
  }
});

dbTest("rotation re-encrypts under the newest key so the old key can be dropped", async () => {
  const alice = await createUser("alice");
  const current = await keyRing();
  const currentSpec = Deno.env.get("BEACON_ENCRYPTION_KEYS")!;
  const fresh = Buffer.from(crypto.getRandomValues(new Uint8Array(32))).toString("base64");
  const rotatedRing = await parseKeyRing(`v99:${fresh},${currentSpec}`);
  try {
    await call("PUT", "/ROTATE_ME", alice, { value: "still-here" });
    const access = await encrypt(current, "at", tokenContext(alice.sub, "twitter", "access_token"));
    await asService((tx) =>
      tx`insert into public.social_connections (user_id, platform, platform_user_id, access_token)
         values (${alice.sub}, 'twitter', '42', ${access})`
    );
    assert.match(
      (await storedValue(alice, "ROTATE_ME"))!,
      new RegExp(`^${current.newest.version}\\.`),
    );

    const report = await rotateKeys(rotatedRing);
    assert.ok(report.secrets >= 1 && report.tokens >= 1);
    assert.deepEqual(report.failures, []);
    const stored = (await storedValue(alice, "ROTATE_ME"))!;
    assert.match(stored, /^v99\./);
    const newOnly = await parseKeyRing(`v99:${fresh}`);
    assert.equal(
      await decrypt(newOnly, stored, secretContext(alice.sub, "ROTATE_ME")),
      "still-here",
    );
    const [tokens] = await asService((tx) =>
      tx`select access_token, refresh_token from public.social_connections where user_id = ${alice.sub}`
    );
    assert.match(tokens.access_token, /^v99\./);
    assert.equal(tokens.refresh_token, null, "an absent refresh token stays absent");
    assert.equal(
      await decrypt(
        newOnly,
        tokens.access_token,
        tokenContext(alice.sub, "twitter", "access_token"),
      ),
      "at",
    );
    const again = await rotateKeys(rotatedRing);
    assert.deepEqual([again.secrets, again.tokens], [0, 0]);
  } finally {
    // Put every row back under the configured key so the rest of the suite can read it.
    await rotateKeys(await parseKeyRing(`${currentSpec},v99:${fresh}`));
    await deleteUsers(alice);
  }
});

dbTest("the rotate route is for the service role only", async () => {
  const alice = await createUser("alice");
  try {
    assert.equal((await call("POST", "/rotate", alice)).status, 401);
    const res = await call("POST", "/rotate", "service");
    assert.equal(res.status, 200);
    assert.deepEqual(Object.keys(res.body).sort(), ["failures", "key", "secrets", "tokens"]);
  } finally {
    await deleteUsers(alice);
  }
});
