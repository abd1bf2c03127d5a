// The audience benchmark (scripts/bench audience), in two parts, each with its table and goal
// line. First, N rows (default 100,000) as a CSV file imported through the leads function
// (POST /functions/v1/leads/import over HTTP through the local gateway, as a signed-in user)
// against a plain `copy` of the same rows into public.leads (as the database owner; the same
// triggers fire), in the same run, with the functions server's resident memory. Second,
// segment_count p50/p95 for 10 predicates on --leads leads (default 1,000,000; see
// segment_counts.ts). `--only import|segments` runs one part. Not a test: nothing here passes
// or fails on time.
//
//   deno run -A --env-file=scripts/local/functions.env scripts/local/bench/audience.ts \
//     [--rows N] [--leads N] [--calls N] [--only import|segments]
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
import { number, printGoal, printTable } from "./output.ts";
import { benchSegmentCounts } from "./segment_counts.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    rows: { type: "string", default: "100000" },
    leads: { type: "string", default: "1000000" },
    calls: { type: "string", default: "20" },
    only: { type: "string" },
  },
});
const rows = Number(values.rows);
const leads = Number(values.leads);
const calls = Number(values.calls);
if (
  ![rows, leads, calls].every((n) => Number.isInteger(n) && n > 0) ||
  ![undefined, "import", "segments"].includes(values.only)
) {
  console.error(
    "usage: scripts/bench audience [--rows N] [--leads N] [--calls N] [--only import|segments]",
  );
  Deno.exit(2);
}

const step = (text: string) => console.error(`bench: ${text}`);
const mib = (kib: number) => `${(kib / 1024).toFixed(0)} MiB`;
const seconds = (ms: number) => `${(ms / 1000).toFixed(2)} s`;

/** VmRSS / VmHWM of a process, in KiB. */
async function memory(pid: number) {
  const status = await Deno.readTextFile(`/proc/${pid}/status`);
  const kib = (name: string) =>
    Number(new RegExp(`^${name}:\\s+(\\d+)`, "m").exec(status)?.[1] ?? 0);
  return { rss: kib("VmRSS"), peak: kib("VmHWM") };
}

/** The import against copy; prints its table and goal line, returns whether the goal is met. */
async function benchImport(): Promise<boolean> {
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
          yield `${owner.sub},lead${i}@bench.example,First${i},Last${i},Company ${
            i % 500
          },new,csv,` +
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

    const importRate = rows / importMs * 1000;
    const copyRate = rows / copyMs * 1000;
    printTable([`${number(rows)} leads (CSV)`, "time", "rows/s"], [
      ["POST /leads/import (HTTP)", seconds(importMs), number(importRate)],
      ["copy public.leads from stdin", seconds(copyMs), number(copyRate)],
      ["ratio (import / copy)", "", `${(importRate / copyRate * 100).toFixed(1)} %`],
    ]);
    console.log(
      `functions server memory: ${mib(before.rss)} resident before, ${mib(after.rss)} after, ${
        mib(after.peak)
      } peak\n`,
    );
    return printGoal("import_ratio", importRate / copyRate * 100, ">=", 50, {
      digits: 1,
      unit: "%",
      note: `rows/s through the function against a plain copy, ${number(rows)} rows`,
    });
  } finally {
    await deleteUsers(owner);
    await functions.stop();
  }
}

try {
  if (values.only !== "segments") await benchImport();
  if (values.only !== "import") {
    console.log();
    await benchSegmentCounts(leads, calls);
  }
} finally {
  await sql.end();
}
