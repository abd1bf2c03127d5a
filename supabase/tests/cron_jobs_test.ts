// docs/cron.md lists every pg_cron job with its schedule; the database's cron.job must hold
// exactly those jobs with exactly those schedules: a job the migrations add without a line in
// the doc fails, and so does a line for a job that no longer exists.
import assert from "node:assert/strict";
import { asService } from "../functions/_shared/db.ts";
import { dbTest } from "../functions/_testing/harness.ts";

const doc = new URL("../../docs/cron.md", import.meta.url);

/** The `| \`job\` | \`schedule\` | ...` rows of the doc's table, as job → schedule. */
function documentedJobs(markdown: string): Map<string, string> {
  const jobs = new Map<string, string>();
  for (const line of markdown.split("\n")) {
    const row = /^\|\s*`([^`]+)`\s*\|\s*`([^`]+)`\s*\|/.exec(line);
    if (!row) continue;
    assert.ok(!jobs.has(row[1]), `docs/cron.md lists ${row[1]} twice`);
    jobs.set(row[1], row[2]);
  }
  return jobs;
}

function differences(documented: Map<string, string>, scheduled: Map<string, string>): string[] {
  const problems: string[] = [];
  for (const [job, schedule] of scheduled) {
    const listed = documented.get(job);
    if (listed === undefined) {
      problems.push(`${job} (${schedule}) is scheduled but not in docs/cron.md`);
    } else if (listed !== schedule) {
      problems.push(`${job} runs at "${schedule}" but docs/cron.md says "${listed}"`);
    }
  }
  for (const [job] of documented) {
    if (!scheduled.has(job)) problems.push(`${job} is in docs/cron.md but not in cron.job`);
  }
  return problems;
}

dbTest("docs/cron.md lists exactly the jobs in cron.job, with their schedules", async () => {
  const documented = documentedJobs(await Deno.readTextFile(doc));
  assert.ok(documented.size > 0, "docs/cron.md has no job table");
  const rows = await asService((tx) =>
    tx<{ jobname: string; schedule: string }[]>`select jobname, schedule from cron.job`
  );
  const scheduled = new Map(rows.map((row) => [row.jobname, row.schedule]));
  assert.deepEqual(differences(documented, scheduled), []);
});

Deno.test("a job missing from either side, or another schedule, is reported", () => {
  const documented = documentedJobs(
    "| job | schedule |\n|---|---|\n| `a` | `* * * * *` | x |\n| `gone` | `0 * * * *` | y |\n",
  );
  const scheduled = new Map([["a", "*/5 * * * *"], ["new", "0 3 * * *"]]);
  assert.deepEqual(differences(documented, scheduled), [
    'a runs at "*/5 * * * *" but docs/cron.md says "* * * * *"',
    "new (0 3 * * *) is scheduled but not in docs/cron.md",
    "gone is in docs/cron.md but not in cron.job",
  ]);
});
