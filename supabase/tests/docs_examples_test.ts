// Every code example in docs/ runs against the local stack, or says what it needs instead.
//
// A fenced block's info string after the language holds its tags (GitHub shows only the
// language):
//
//   ```sql run=postgres       psql-style SQL as `postgres`, in a transaction rolled back after
//   ```sql run=demo           the same as the demo user (role authenticated, their claims): RLS
//   ```ts run                 a Deno program (the root deno.json's imports); SUPABASE_URL,
//                             SUPABASE_ANON_KEY and TOKEN (a signed-in user's JWT) are set
//   ```sh run                 bash -euo pipefail from the repository root; TOKEN is set,
//                             http://127.0.0.1:54321 is the functions gateway, curl fails on
//                             4xx/5xx (--fail-with-body), `scripts/db psql` reaches the database
//   ... expect="text"         its output (rows as JSON, for SQL) must contain text
//   ... error="text"          it must fail, with text in the error
//   ```ts needs=postgrest     runs where PostgREST is (supabase start, hosted): type-checked
//                             here against supabase-js, with `supabase` declared as
//                             SupabaseClient<Database> (the generated types)
//   ```<lang> needs=hosted    needs a hosted project (deploy steps): not run here
//   ```<lang> needs=browser   runs in a browser: not run here
//   ```text                   output or a listing, not an example
//
// Any other language, or a sql/ts/sh block with neither `run` nor `needs`, fails: a new example
// cannot go unrun by accident. The sh and ts examples run as a fresh user against every function
// served by the local gateway, with the fake X/LinkedIn/Facebook/Instagram behind oauth.
import assert from "node:assert/strict";
import { localApiKey } from "../../scripts/local/keys.ts";
import { sql } from "../functions/_shared/db.ts";
import { serveFunctions } from "../functions/_testing/email.ts";
import { startFakes } from "../functions/_testing/fakes/server.ts";
import { bearerFor, createUser, deleteUsers } from "../functions/_testing/harness.ts";

const root = new URL("../../", import.meta.url).pathname;
const docsDir = `${root}docs/`;
const LANGUAGES = new Set(["sql", "ts", "sh", "text"]);
const NEEDS = new Set(["postgrest", "hosted", "browser"]);
const DEMO_USER = {
  sub: "de000000-0000-4000-8000-000000000001",
  role: "authenticated",
  aud: "authenticated",
  email: "demo@beacon.local",
};

type Block = {
  file: string;
  line: number;
  lang: string;
  tags: Record<string, string>;
  code: string;
};

/** The fenced code blocks of a markdown text, with their tags. */
function codeBlocks(file: string, markdown: string): Block[] {
  const blocks: Block[] = [];
  const lines = markdown.split("\n");
  for (let i = 0; i < lines.length; i++) {
    const open = /^```(\S*)(.*)$/.exec(lines[i]);
    if (!open) continue;
    const start = i;
    const body: string[] = [];
    for (i++; i < lines.length && !/^```\s*$/.test(lines[i]); i++) body.push(lines[i]);
    if (i === lines.length) throw new Error(`${file}:${start + 1}: the code block is never closed`);
    const tags: Record<string, string> = {};
    for (const [, key, quoted, bare] of open[2].matchAll(/(\w+)(?:="([^"]*)"|=(\S+))?/g)) {
      tags[key] = quoted ?? bare ?? "";
    }
    blocks.push({ file, line: start + 1, lang: open[1], tags, code: body.join("\n") + "\n" });
  }
  return blocks;
}

/** Why a block is not acceptable, or undefined. */
function blockProblem(block: Block): string | undefined {
  const where = `${block.file}:${block.line}`;
  if (!LANGUAGES.has(block.lang)) {
    return `${where}: a code block's language must be one of ${[...LANGUAGES].join(", ")}, ` +
      `not ${JSON.stringify(block.lang)}`;
  }
  if (block.lang === "text") return undefined;
  const { run, needs } = block.tags;
  if ((run === undefined) === (needs === undefined)) {
    return `${where}: a ${block.lang} example is tagged either run or needs=${
      [...NEEDS].join("|")
    }`;
  }
  if (needs !== undefined && !NEEDS.has(needs)) {
    return `${where}: needs=${needs} is not one of ${[...NEEDS].join(", ")}`;
  }
  if (block.lang === "sql" && run !== undefined && run !== "postgres" && run !== "demo") {
    return `${where}: a sql example runs as run=postgres or run=demo, not run=${run}`;
  }
  if (block.lang !== "sql" && run !== undefined && run !== "") {
    return `${where}: a ${block.lang} example is tagged plain run, not run=${run}`;
  }
  return undefined;
}

async function readDocs(): Promise<Block[]> {
  const blocks: Block[] = [];
  const files = [...Deno.readDirSync(docsDir)].filter((e) => e.name.endsWith(".md"))
    .map((e) => e.name).sort();
  for (const name of files) {
    blocks.push(...codeBlocks(`docs/${name}`, await Deno.readTextFile(docsDir + name)));
  }
  return blocks;
}

type Outcome = { ok: true; output: string } | { ok: false; output: string };

/** Checks an outcome against the block's expect/error tags. */
function judge(block: Block, outcome: Outcome) {
  const where = `${block.file}:${block.line}`;
  const { expect, error } = block.tags;
  if (error !== undefined) {
    assert.ok(
      !outcome.ok,
      `${where} should have failed with "${error}", but ran:\n${outcome.output}`,
    );
    assert.ok(
      outcome.output.includes(error),
      `${where} failed without "${error}":\n${outcome.output}`,
    );
    return;
  }
  assert.ok(outcome.ok, `${where} failed:\n${outcome.output}`);
  if (expect !== undefined) {
    assert.ok(
      outcome.output.includes(expect),
      `${where}: the output lacks "${expect}":\n${outcome.output}`,
    );
  }
}

const ROLLBACK = Symbol("rollback");

/** The SQL as `postgres` or as the demo user, in a transaction that is rolled back. */
async function runSql(block: Block): Promise<Outcome> {
  let output = "";
  try {
    await sql.begin(async (tx) => {
      if (block.tags.run === "demo") {
        const [demo] = await tx`select 1 from auth.users where id = ${DEMO_USER.sub}`;
        assert.ok(demo, "the demo user is missing: load the seed (scripts/db reset)");
        await tx`select set_config('role', 'authenticated', true),
                        set_config('request.jwt.claims', ${JSON.stringify(DEMO_USER)}, true)`;
      }
      const results = await tx.unsafe(block.code).simple();
      output = JSON.stringify(results);
      throw ROLLBACK;
    });
  } catch (err) {
    if (err !== ROLLBACK) return { ok: false, output: String((err as Error).message ?? err) };
  }
  return { ok: true, output };
}

type Stack = { base: string; env: Record<string, string> };

async function runProcess(command: string, args: string[], env: Record<string, string>) {
  const { code, stdout, stderr } = await new Deno.Command(command, {
    args,
    cwd: root,
    env,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = new TextDecoder();
  const output = text.decode(stdout) + text.decode(stderr);
  return code === 0 ? { ok: true as const, output } : { ok: false as const, output };
}

async function runSh(block: Block, stack: Stack): Promise<Outcome> {
  const script = `set -euo pipefail
curl() { command curl --fail-with-body "$@"; }
${block.code.replaceAll("http://127.0.0.1:54321", stack.base)}`;
  return await runProcess("bash", ["-c", script], stack.env);
}

async function runTs(block: Block, stack: Stack): Promise<Outcome> {
  const dir = await Deno.makeTempDir({ prefix: "beacon-doc-example-" });
  try {
    const file = `${dir}/example.ts`;
    await Deno.writeTextFile(file, block.code);
    return await runProcess(
      Deno.execPath(),
      ["run", "--quiet", "-A", `--config=${root}deno.json`, file],
      stack.env,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/** The generated types of the schema public, which the examples' client is typed with. */
const DATABASE_TYPES = new URL("../functions/_shared/database.types.ts", import.meta.url);

/**
 * Type-checks the supabase-js examples that need PostgREST, with `supabase` declared as
 * `SupabaseClient<Database>`: a table, column or RPC argument an example names must exist.
 * The types sit beside each example as `./database.types.ts`, where an app keeps its own.
 */
async function checkPostgrestExamples(blocks: Block[]) {
  if (blocks.length === 0) return;
  const dir = await Deno.makeTempDir({ prefix: "beacon-doc-check-" });
  try {
    await Deno.copyFile(DATABASE_TYPES, `${dir}/database.types.ts`);
    const files = await Promise.all(blocks.map(async (block, index) => {
      const file = `${dir}/example_${index}.ts`;
      await Deno.writeTextFile(
        file,
        `import type { SupabaseClient } from "@supabase/supabase-js";\n` +
          `import type { Database as BeaconDatabase } from "./database.types.ts";\n` +
          `declare const supabase: SupabaseClient<BeaconDatabase>;\n` +
          `export {};\n` + block.code,
      );
      return file;
    }));
    const { code, stdout, stderr } = await new Deno.Command(Deno.execPath(), {
      args: ["check", "--quiet", `--config=${root}deno.json`, ...files],
      cwd: root,
      stdout: "piped",
      stderr: "piped",
    }).output();
    const text = new TextDecoder();
    let report = text.decode(stdout) + text.decode(stderr);
    blocks.forEach((block, index) => {
      report = report.replaceAll(`example_${index}.ts`, `${block.file}:${block.line}`);
    });
    assert.equal(code, 0, `a docs example does not type-check:\n${report}`);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

const blocks = await readDocs();

Deno.test("docs: every code block runs here or says what it needs", () => {
  assert.ok(blocks.length > 0, "no code blocks in docs/");
  const problems = blocks.map(blockProblem).filter((p) => p !== undefined);
  assert.deepEqual(problems, []);
  assert.ok(blocks.some((b) => b.tags.run !== undefined), "no runnable example in docs/");
});

Deno.test("docs: the supabase-js examples that need PostgREST type-check", () =>
  checkPostgrestExamples(blocks.filter((b) => b.lang === "ts" && b.tags.needs === "postgrest")));

const runnable = blocks.filter((b) => b.tags.run !== undefined && blockProblem(b) === undefined);
for (const file of [...new Set(runnable.map((b) => b.file))]) {
  const own = runnable.filter((b) => b.file === file);
  Deno.test({
    name: `docs: the examples in ${file} run`,
    sanitizeResources: false,
    sanitizeOps: false,
    async fn(t) {
      const needsStack = own.some((b) => b.lang !== "sql");
      const fakes = needsStack ? await startFakes() : undefined;
      const functions = fakes ? await serveFunctions(fakes.env) : undefined;
      const user = needsStack ? await createUser("docs") : undefined;
      try {
        const dbPort = new URL(Deno.env.get("SUPABASE_DB_URL")!).port;
        const stack: Stack | undefined = functions && user
          ? {
            base: functions.url.replace(/\/functions\/v1$/, ""),
            env: {
              SUPABASE_URL: functions.url.replace(/\/functions\/v1$/, ""),
              SUPABASE_ANON_KEY: await localApiKey("anon"),
              TOKEN: (await bearerFor(user)).replace(/^Bearer /, ""),
              BEACON_DB_PORT: dbPort,
            },
          }
          : undefined;
        for (const block of own) {
          await t.step(`${block.file}:${block.line} (${block.lang})`, async () => {
            const outcome = block.lang === "sql"
              ? await runSql(block)
              : block.lang === "sh"
              ? await runSh(block, stack!)
              : await runTs(block, stack!);
            judge(block, outcome);
          });
        }
      } finally {
        if (user) await deleteUsers(user);
        await functions?.stop();
        await fakes?.close();
      }
    },
  });
}

Deno.test("docs: a broken example fails, an untagged one is refused", async () => {
  const [missingColumn, shouldFail, wrongOutput] = codeBlocks(
    "docs/x.md",
    "```sql run=demo\nselect no_such_column from public.leads;\n```\n" +
      '```sql run=demo error="violates"\nselect 1;\n```\n' +
      '```sql run=postgres expect="42"\nselect 41 as answer;\n```\n',
  );
  const broken = await runSql(missingColumn);
  assert.deepEqual(broken, {
    ok: false,
    output: 'column "no_such_column" does not exist',
  });
  assert.throws(() => judge(missingColumn, broken), /docs\/x.md:1 failed/);
  assert.throws(() => judge(shouldFail, { ok: true, output: "[]" }), /should have failed/);
  assert.throws(() => judge(wrongOutput, { ok: true, output: '[{"answer":41}]' }), /lacks "42"/);

  const untagged = codeBlocks("docs/x.md", "```sql\nselect 1;\n```\n```js run\n1\n```\n");
  assert.match(blockProblem(untagged[0])!, /docs\/x.md:1: a sql example is tagged either run/);
  assert.match(blockProblem(untagged[1])!, /language must be one of/);
});
