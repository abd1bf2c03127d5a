// `scripts/db start` on a machine where scripts/setup never ran: a PostgreSQL whose pg_config
// points at empty extension folders (BEACON_PG_BINDIR), so pg_cron and plpgsql_check are
// missing. It must say what to run, before creating or starting anything.
import assert from "node:assert/strict";

const root = new URL("../../", import.meta.url).pathname;

async function run(command: string, args: string[], env: Record<string, string> = {}) {
  const { code, stdout, stderr } = await new Deno.Command(command, {
    args,
    cwd: root,
    env,
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = new TextDecoder();
  return { code, stdout: text.decode(stdout), stderr: text.decode(stderr) };
}

/** A bin folder with the real PostgreSQL programs, but a pg_config naming empty folders. */
async function serverWithoutExtensions(): Promise<{ dir: string; bindir: string }> {
  const real = await run("bash", ["-c", "source scripts/local/common.sh && pg_bindir"]);
  assert.equal(real.code, 0, real.stderr);
  const realBindir = real.stdout.trim();
  const dir = await Deno.makeTempDir({ prefix: "beacon-no-setup-" });
  const bindir = `${dir}/bin`;
  await Deno.mkdir(bindir);
  await Deno.mkdir(`${dir}/lib`);
  await Deno.mkdir(`${dir}/share/extension`, { recursive: true });
  for await (const entry of Deno.readDir(realBindir)) {
    if (entry.name !== "pg_config") {
      await Deno.symlink(`${realBindir}/${entry.name}`, `${bindir}/${entry.name}`);
    }
  }
  await Deno.writeTextFile(
    `${bindir}/pg_config`,
    `#!/bin/sh
case "$1" in
  --sharedir) echo "${dir}/share" ;;
  --pkglibdir) echo "${dir}/lib" ;;
  *) exec "${realBindir}/pg_config" "$@" ;;
esac
`,
    { mode: 0o755 },
  );
  return { dir, bindir };
}

const exists = (path: string) => Deno.stat(path).then(() => true, () => false);

Deno.test("scripts/db start without pg_cron and plpgsql_check names them and what to run", async () => {
  const { dir, bindir } = await serverWithoutExtensions();
  try {
    const env = { BEACON_PG_BINDIR: bindir, BEACON_LOCAL_DIR: `${dir}/local` };
    const none = await run("scripts/db", ["start"], env);
    assert.equal(none.code, 1);
    const major = (await run(`${bindir}/pg_config`, ["--version"])).stdout.match(/\d+/)![0];
    assert.equal(
      none.stderr.trim(),
      `error: pg_cron and plpgsql_check are not installed: run scripts/setup (as root) or ` +
        `apt-get install postgresql-${major}-cron postgresql-${major}-plpgsql-check`,
    );
    assert.ok(!(await exists(`${dir}/local`)), "nothing was created");

    await Deno.writeTextFile(`${dir}/lib/plpgsql_check.so`, "");
    const cronOnly = await run("scripts/db", ["start"], env);
    assert.equal(cronOnly.code, 1);
    assert.equal(
      cronOnly.stderr.trim(),
      `error: pg_cron is not installed: run scripts/setup (as root) or ` +
        `apt-get install postgresql-${major}-cron`,
    );
    assert.ok(!(await exists(`${dir}/local`)), "nothing was created");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
