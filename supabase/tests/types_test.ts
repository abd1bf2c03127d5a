// The committed database types must match what the migrations produce: regenerate them from
// the database (SUPABASE_DB_URL, default the local stack) exactly as scripts/gen-types does,
// and compare with supabase/functions/_shared/database.types.ts.
import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";

const root = new URL("../../", import.meta.url);
const committedTypes = new URL("supabase/functions/_shared/database.types.ts", root);
const genTypes = new URL("scripts/gen-types", root);

function firstDifference(a: string, b: string): string {
  const left = a.split("\n");
  const right = b.split("\n");
  for (let i = 0; i < Math.max(left.length, right.length); i++) {
    if (left[i] !== right[i]) {
      return `line ${i + 1}: committed ${JSON.stringify(left[i] ?? "<end of file>")}, ` +
        `database ${JSON.stringify(right[i] ?? "<end of file>")}`;
    }
  }
  return "none";
}

Deno.test("database.types.ts matches the database schema", async () => {
  const dir = await Deno.makeTempDir({ prefix: "beacon-types-" });
  try {
    const fresh = `${dir}/database.types.ts`;
    const { code, stderr } = await new Deno.Command("bash", {
      args: [fileURLToPath(genTypes), fresh],
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).output();
    assert.equal(code, 0, `scripts/gen-types failed:\n${new TextDecoder().decode(stderr)}`);

    const committed = await Deno.readTextFile(committedTypes);
    const generated = await Deno.readTextFile(fresh);
    assert.ok(
      committed === generated,
      "supabase/functions/_shared/database.types.ts is stale: run scripts/gen-types " +
        `(with the migrations applied) and commit the result. First difference at ${
          firstDifference(committed, generated)
        }`,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
