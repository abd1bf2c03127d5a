// The segments benchmark (scripts/bench segments): segment_count's part of scripts/bench
// audience alone (see segment_counts.ts), on 100,000 leads by default. Not a test: nothing here
// passes or fails on time.
//
//   deno run -A --env-file=scripts/local/functions.env scripts/local/bench/segments.ts \
//     [--leads 100000] [--calls 20]
import { parseArgs } from "node:util";
import { sql } from "../../../supabase/functions/_shared/db.ts";
import { benchSegmentCounts } from "./segment_counts.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    leads: { type: "string", default: "100000" },
    calls: { type: "string", default: "20" },
  },
});
const leads = Number(values.leads);
const calls = Number(values.calls);
if (![leads, calls].every((n) => Number.isInteger(n) && n > 0)) {
  console.error("usage: scripts/bench segments [--leads N] [--calls N]");
  Deno.exit(2);
}
try {
  await benchSegmentCounts(leads, calls);
} finally {
  await sql.end();
}
