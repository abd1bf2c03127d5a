// Where the functions' SQL lives (listmonk keeps its statements in one named-queries file):
// each function's statements in its own queries.ts, as named functions taking the
// transaction; SQL several functions share in one _shared module named after what it holds.
// A statement anywhere else (a handler's inline tx`...`) fails here.
import assert from "node:assert/strict";

const functionsDir = new URL("../functions/", import.meta.url);

/** The _shared modules that may hold SQL, and what each holds. */
const SHARED_SQL = [
  "_shared/db.ts", // the session: role and JWT claims of each transaction
  "_shared/email/events.ts", // email events (track, webhooks)
  "_shared/rate_limit.ts", // the rate limits' counters (every public endpoint)
  "_shared/rotation.ts", // re-encryption under the newest key (secrets, oauth tokens)
  "_shared/secrets.ts", // users' stored secrets (secrets, webhooks, dispatch)
];

/** A tagged template on the postgres.js client or a transaction, or a raw statement. */
const STATEMENT = /\b(?:tx|sql)\s*(?:<[^`;]*?>)?\s*`|\.unsafe\s*\(/;

/** Production modules (no tests, no test support) as paths under supabase/functions/. */
async function productionModules(dir = functionsDir, prefix = ""): Promise<string[]> {
  const found: string[] = [];
  for await (const entry of Deno.readDir(dir)) {
    const path = prefix + entry.name;
    if (entry.isDirectory) {
      if (entry.name === "_testing" || entry.name.startsWith(".")) continue;
      found.push(...await productionModules(new URL(entry.name + "/", dir), path + "/"));
    } else if (entry.name.endsWith(".ts") && !entry.name.endsWith("_test.ts")) {
      found.push(path);
    }
  }
  return found.sort();
}

/** Whether `path` may hold SQL: a function's queries.ts or a listed _shared module. */
export function mayHoldSql(path: string): boolean {
  return SHARED_SQL.includes(path) || /^[a-z][a-z0-9_-]*\/queries\.ts$/.test(path);
}

/** The 1-based line numbers of `text` that start a statement. */
export function statementLines(text: string): number[] {
  return text.split("\n").flatMap((line, i) =>
    STATEMENT.test(line) && !line.trimStart().startsWith("//") ? [i + 1] : []
  );
}

Deno.test("the statement pattern finds tagged SQL and raw statements, and not prose", () => {
  assert.deepEqual(statementLines("await tx`select 1`"), [1]);
  assert.deepEqual(statementLines("x\n  tx<{ id: string }[]>`\n select"), [2]);
  assert.deepEqual(statementLines("const [row] = await sql`"), [1]);
  assert.deepEqual(statementLines("await tx.unsafe(text)"), [1]);
  assert.deepEqual(statementLines("// tx`x` in a comment\nconst a = `${tx}`;"), []);
  assert.ok(mayHoldSql("track/queries.ts"));
  assert.ok(!mayHoldSql("track/app.ts"));
  assert.ok(!mayHoldSql("_shared/http.ts"));
});

Deno.test("functions keep their SQL in queries.ts, shared SQL in the listed _shared modules", async () => {
  const offenders: string[] = [];
  for (const path of await productionModules()) {
    if (mayHoldSql(path)) continue;
    const lines = statementLines(await Deno.readTextFile(new URL(path, functionsDir)));
    offenders.push(...lines.map((line) => `supabase/functions/${path}:${line}`));
  }
  assert.deepEqual(
    offenders,
    [],
    "SQL outside a query module: move it into the function's queries.ts as a named function " +
      "taking the transaction (or, if several functions run it, into a _shared module listed " +
      "in supabase/tests/query_modules_test.ts)",
  );
});

Deno.test("every listed _shared SQL module exists and holds SQL", async () => {
  for (const path of SHARED_SQL) {
    const text = await Deno.readTextFile(new URL(path, functionsDir));
    assert.ok(statementLines(text).length > 0, `${path} is listed but holds no SQL`);
  }
});
