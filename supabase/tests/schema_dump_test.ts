// supabase/schema.sql is what the migrations make of the schemas public and private, kept
// current: a migration that changes a table, a policy or a function (its body included, even
// one a migration generates with `execute format`) changes the dump, and this test fails
// until the file is renewed.
import assert from "node:assert/strict";
import {
  DUMP_COMMAND,
  dumpSchema,
  normalizeDump,
  SCHEMA_FILE,
  staleFileMessage,
} from "../../scripts/local/schema.ts";

const url = Deno.env.get("SUPABASE_DB_URL");

Deno.test("normalizeDump keeps our schemas' entries and drops what varies or comes with the database", () => {
  const dump = [
    "--",
    "-- PostgreSQL database dump",
    "--",
    "",
    "\\restrict AbC123",
    "",
    "-- Dumped from database version 15.18",
    "-- Dumped by pg_dump version 15.18",
    "",
    "SET lock_timeout = 0;",
    "",
    "--",
    "-- Name: public; Type: SCHEMA; Schema: -; Owner: pg_database_owner",
    "--",
    "",
    "CREATE SCHEMA public;",
    "",
    "--",
    "-- Name: SCHEMA public; Type: COMMENT; Schema: -; Owner: pg_database_owner",
    "--",
    "",
    "COMMENT ON SCHEMA public IS 'standard public schema';",
    "",
    "--",
    "-- Name: f(); Type: FUNCTION; Schema: private; Owner: postgres",
    "--",
    "",
    "CREATE FUNCTION private.f() RETURNS integer",
    "    AS $$ select 1",
    "",
    "",
    "$$;",
    "",
    "--",
    "-- Name: SCHEMA public; Type: ACL; Schema: -; Owner: pg_database_owner",
    "--",
    "",
    "GRANT USAGE ON SCHEMA public TO anon;",
    "",
    "\\unrestrict AbC123",
    "",
  ].join("\n");
  const out = normalizeDump(dump);
  assert.doesNotMatch(out, /restrict|Dumped|SCHEMA public|CREATE SCHEMA/);
  assert.match(out, /SET lock_timeout = 0;/);
  // A function body is kept byte for byte, blank lines included.
  assert.match(
    out,
    /CREATE FUNCTION private\.f\(\) RETURNS integer\n {4}AS \$\$ select 1\n\n\n\$\$;/,
  );
  assert.equal(normalizeDump(dump), out);
});

Deno.test("supabase/schema.sql is the schema the migrations make", async () => {
  assert.ok(url, "SUPABASE_DB_URL is not set");
  const current = await dumpSchema(url);
  const committed = await Deno.readTextFile(SCHEMA_FILE);
  if (current !== committed) {
    assert.fail(staleFileMessage("supabase/schema.sql", committed, current, DUMP_COMMAND));
  }
});
