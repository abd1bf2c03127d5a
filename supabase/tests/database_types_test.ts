// supabase/functions/_shared/database.types.ts is what `supabase gen types` makes of the schema
// public the migrations leave, kept current: a migration that adds, drops or changes a table, a
// column or an RPC's arguments or result changes the generated types, and this test fails until
// the file is renewed.
import assert from "node:assert/strict";
import { staleFileMessage } from "../../scripts/local/schema.ts";
import { generateTypes, TYPES_COMMAND, TYPES_FILE } from "../../scripts/local/types.ts";

const url = Deno.env.get("SUPABASE_DB_URL");

Deno.test("database.types.ts is what supabase gen types makes of the schema public", async () => {
  assert.ok(url, "SUPABASE_DB_URL is not set");
  const generated = await generateTypes(url);
  const committed = await Deno.readTextFile(TYPES_FILE);
  if (generated !== committed) {
    assert.fail(staleFileMessage(
      "supabase/functions/_shared/database.types.ts",
      committed,
      generated,
      TYPES_COMMAND,
    ));
  }
});
