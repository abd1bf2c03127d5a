// The functions as an app calls them: @supabase/supabase-js with the project URL, the anon
// key and the signed-in user's access token, `supabase.functions.invoke`, over real HTTP to
// every function served by the local gateway (as scripts/start serves them).
import assert from "node:assert/strict";
import { createClient, FunctionsHttpError, type SupabaseClient } from "@supabase/supabase-js";
import { localApiKey } from "../../scripts/local/keys.ts";
import { asService, type UserClaims } from "../functions/_shared/db.ts";
import type { Database } from "../functions/_shared/database.types.ts";
import { serveFunctions } from "../functions/_testing/email.ts";
import { bearerFor, createUser, dbTest, deleteUsers } from "../functions/_testing/harness.ts";

/** What an app holds: the project URL, the anon key and its user's session token. */
async function appClient(
  projectUrl: string,
  authorization: string,
): Promise<SupabaseClient<Database>> {
  return createClient<Database>(projectUrl, await localApiKey("anon"), {
    global: { headers: { Authorization: authorization } },
    auth: { persistSession: false, autoRefreshToken: false },
  });
}

/** The JSON body of a non-2xx answer, which supabase-js hands over as `error.context`. */
async function errorAnswer(error: unknown): Promise<{ status: number; body: unknown }> {
  assert.ok(error instanceof FunctionsHttpError, `expected an HTTP error, got ${error}`);
  const response = error.context as Response;
  return { status: response.status, body: await response.json() };
}

type App = { supabase: SupabaseClient<Database>; projectUrl: string; user: UserClaims };

/** Every function served over HTTP, a fresh user, and that user's app client. */
function appTest(name: string, work: (app: App) => Promise<void>) {
  dbTest(name, async () => {
    const functions = await serveFunctions();
    const user = await createUser("app");
    try {
      const projectUrl = functions.url.replace(/\/functions\/v1$/, "");
      await work({
        supabase: await appClient(projectUrl, await bearerFor(user)),
        projectUrl,
        user,
      });
    } finally {
      await deleteUsers(user);
      await functions.stop();
    }
  });
}

appTest(
  "an app stores, replaces and deletes a secret with supabase.functions.invoke",
  async ({ supabase, projectUrl, user }) => {
    const created = await supabase.functions.invoke("secrets/RESEND_API_KEY", {
      method: "PUT",
      body: { value: "re_app_key_1" },
    });
    assert.equal(created.error, null);
    assert.equal(created.response?.status, 201);
    assert.equal(created.data.name, "RESEND_API_KEY");
    assert.equal(typeof created.data.created_at, "string");
    assert.equal(JSON.stringify(created.data).includes("re_app_key_1"), false);

    const replaced = await supabase.functions.invoke("secrets/RESEND_API_KEY", {
      method: "PUT",
      body: { value: "re_app_key_2" },
    });
    assert.equal(replaced.response?.status, 200);

    const [stored] = await asService((tx) =>
      tx`select user_id, encrypted_value from public.user_secrets
         where secret_name = 'RESEND_API_KEY' and user_id = ${user.sub}`
    );
    assert.equal(stored.user_id, user.sub, "stored for the token's user");
    assert.equal(String(stored.encrypted_value).includes("re_app_key_2"), false);

    const badName = await supabase.functions.invoke("secrets/resend-key", {
      method: "PUT",
      body: { value: "x" },
    });
    const refused = await errorAnswer(badName.error);
    assert.equal(refused.status, 400);
    assert.match(JSON.stringify(refused.body), /params\.name/);

    const deleted = await supabase.functions.invoke("secrets/RESEND_API_KEY", {
      method: "DELETE",
    });
    assert.equal(deleted.error, null);
    assert.equal(deleted.response?.status, 204);
    const again = await supabase.functions.invoke("secrets/RESEND_API_KEY", { method: "DELETE" });
    assert.equal((await errorAnswer(again.error)).status, 404);

    const anonymous = createClient(projectUrl, await localApiKey("anon"), {
      auth: { persistSession: false, autoRefreshToken: false },
    });
    const noSession = await anonymous.functions.invoke("secrets/RESEND_API_KEY", {
      method: "PUT",
      body: { value: "re_x" },
    });
    assert.equal((await errorAnswer(noSession.error)).status, 401, "the anon key is no user");
  },
);

appTest(
  "an app starts an OAuth connection with supabase.functions.invoke",
  async ({ supabase }) => {
    const { data, error, response } = await supabase.functions.invoke("oauth/twitter/start", {
      body: { redirect_to: "http://localhost:3000/settings" },
    });
    assert.equal(error, null);
    assert.equal(response?.status, 200);
    assert.equal(typeof data.url, "string");
    assert.ok(URL.canParse(data.url), `${data.url} is a URL`);
  },
);
