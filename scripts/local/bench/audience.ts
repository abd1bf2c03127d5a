// The audience benchmark (scripts/bench audience), first part: 100,000 leads as a CSV file
// imported through the leads function (POST /functions/v1/leads/import over HTTP through the
// local gateway, as a signed-in user) against a plain `copy` of the same rows into
// public.leads (as the database owner; the same triggers fire). Prints one table, the functions
// server's resident memory before and at its peak, and `goal import_ratio: <function / copy>`.
// Not a test: nothing here passes or fails on time.
//
//   deno run -A --env-file=scripts/local/functions.env scripts/local/bench/audience.ts [--rows N]
import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { parseArgs } from "node:util";
import { asService, sql } from "../../../supabase/functions/_shared/db.ts";
import { serveFunctions } from "../../../supabase/functions/_testing/email.ts";
import {
  bearerFor,
  createUser,
  deleteUsers,
} from "../../../supabase/functions/_testing/harness.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: { rows: { type: "string", default: "100000" } },
});
const rows = Number(values.rows);
if (!Number.isInteger(rows) || rows < 1) {
  console.error("usage: scripts/bench audience [--rows N]");
  Deno.exit(2);
}

const step = (text: string) => console.error(`bench: ${text}`);
const number = (n: number) => Math.round(n).toLocaleString("en-US");
const mib = (kib: number) => `${(kib / 1024).toFixed(0)} MiB`;

/** VmRSS / VmHWM of a process, in KiB. */
async function memory(pid: number) {
  const status = await Deno.readTextFile(`/proc/${pid}/status`);
  const kib = (name: string) =>
    Number(new RegExp(`^${name}:\\s+(\\d+)`, "m").exec(status)?.[1] ?? 0);
  return { rss: kib("VmRSS"), peak: kib("VmHWM") };
}

const header = "email,first_name,last_name,company,status,source,tags,external_id\n";
const line = (i: number) =>
  `lead${i}@bench.example,First${i},Last${i},Company ${i % 500},new,csv,t${i % 7};bulk,${i}\n`;
const csv = header + Array.from({ length: rows }, (_, i) => line(i)).join("");

const owner = await createUser("bench-audience");
const functions = await serveFunctions();
try {
  const before = await memory(functions.pid);
  step(
    `${number(rows)} rows (${
      (csv.length / 1024 / 1024).toFixed(1)
    } MiB) through POST /leads/import`,
  );
  const started = performance.now();
  const response = await fetch(`${functions.url}/leads/import`, {
    method: "POST",
    headers: { authorization: await bearerFor(owner), "content-type": "text/csv" },
    body: csv,
  });
  const answer = await response.json();
  const importMs = performance.now() - started;
  const after = await memory(functions.pid);
  if (response.status !== 200 || answer.inserted !== rows) {
    throw new Error(
      `the import answered ${response.status}: ${JSON.stringify(answer).slice(0, 500)}`,
    );
  }

  await asService((tx) => tx`delete from public.leads where user_id = ${owner.sub}`);
  step(`the same ${number(rows)} rows with copy public.leads from stdin`);
  const copyStarted = performance.now();
  await sql.begin(async (tx) => {
    const target = await tx.unsafe(
      `copy public.leads (user_id, email, first_name, last_name, company, status, source, tags, custom_fields)
       from stdin with (format csv)`,
    ).writable();
    const csvRows = function* () {
      for (let i = 0; i < rows; i++) {
        yield `${owner.sub},lead${i}@bench.example,First${i},Last${i},Company ${i % 500},new,csv,` +
          `"{t${i % 7},bulk}","{""external_id"": ""${i}""}"\n`;
      }
    };
    await pipeline(Readable.from(csvRows()), target);
  });
  const copyMs = performance.now() - copyStarted;
  const [{ n }] = await asService((tx) =>
    tx`select count(*)::integer as n from public.leads where user_id = ${owner.sub}`
  );
  if (n !== rows) throw new Error(`copy left ${n} leads, not ${rows}`);

  const ratio = importMs / copyMs;
  console.log(`| ${number(rows)} leads (CSV)          | time      | rows/s     |`);
  console.log(`|------------------------------|-----------|------------|`);
  console.log(
    `| POST /leads/import (HTTP)    | ${(importMs / 1000).toFixed(2).padStart(7)} s | ${
      number(rows / importMs * 1000).padStart(10)
    } |`,
  );
  console.log(
    `| copy public.leads from stdin | ${(copyMs / 1000).toFixed(2).padStart(7)} s | ${
      number(rows / copyMs * 1000).padStart(10)
    } |`,
  );
  console.log(
    `functions server memory: ${mib(before.rss)} resident before, ${mib(after.rss)} after, ${
      mib(after.peak)
    } peak`,
  );
  console.log(`goal import_ratio: ${ratio.toFixed(2)} (import through the function / plain copy)`);
} finally {
  await deleteUsers(owner);
  await functions.stop();
  await sql.end();
}
