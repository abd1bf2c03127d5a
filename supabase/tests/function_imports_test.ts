// `supabase functions deploy` bundles each function with its own deno.json, not the root one.
// So every function's deno.json must resolve the function's whole module graph (its own files
// and the _shared ones it imports), with the same pins as the root deno.json that the tests
// and the local stack use.
import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";

const root = new URL("../../", import.meta.url);
const functionsDir = new URL("supabase/functions/", root);
const deno = fileURLToPath(new URL("node_modules/.bin/deno", root));

const readImports = async (file: URL): Promise<Record<string, string>> =>
  JSON.parse(await Deno.readTextFile(file)).imports ?? {};

const functionNames: string[] = [];
for await (const entry of Deno.readDir(functionsDir)) {
  if (entry.isDirectory && !entry.name.startsWith("_") && !entry.name.startsWith(".")) {
    functionNames.push(entry.name);
  }
}

for (const name of functionNames.sort()) {
  Deno.test(`function ${name}: its deno.json pins what the root pins`, async () => {
    const rootImports = await readImports(new URL("deno.json", root));
    const own = await readImports(new URL(`${name}/deno.json`, functionsDir));
    assert.ok(Object.keys(own).length > 0, `supabase/functions/${name}/deno.json has no imports`);
    for (const [specifier, target] of Object.entries(own)) {
      assert.equal(target, rootImports[specifier], `${name}: "${specifier}" differs from the root`);
    }
  });

  Deno.test(`function ${name}: type-checks with only its own deno.json, as deployed`, async () => {
    const { code, stderr } = await new Deno.Command(deno, {
      args: [
        "check",
        "--quiet",
        "--no-lock",
        "--config",
        fileURLToPath(new URL(`${name}/deno.json`, functionsDir)),
        fileURLToPath(new URL(`${name}/index.ts`, functionsDir)),
      ],
      // The root package.json lists dev tooling only; it is not part of any function.
      env: { DENO_NO_PACKAGE_JSON: "1" },
      stdout: "null",
      stderr: "piped",
    }).output();
    assert.equal(code, 0, new TextDecoder().decode(stderr));
  });
}

// Production code never reaches test support: what a function deploys is its index.ts graph.
const testingDir = new URL("_testing/", functionsDir).href;
for (const name of functionNames) {
  Deno.test(`function ${name}: its module graph holds nothing from _testing/`, async () => {
    const { code, stdout, stderr } = await new Deno.Command(deno, {
      args: ["info", "--json", fileURLToPath(new URL(`${name}/index.ts`, functionsDir))],
      stdout: "piped",
      stderr: "piped",
    }).output();
    assert.equal(code, 0, new TextDecoder().decode(stderr));
    const graph = JSON.parse(new TextDecoder().decode(stdout)) as {
      modules: { specifier: string }[];
    };
    const local = graph.modules.map((m) => m.specifier).filter((s) => s.startsWith("file:"));
    assert.ok(local.length > 1, `${name}: the graph has no local modules`);
    assert.deepEqual(local.filter((s) => s.startsWith(testingDir)), []);
  });
}

// _shared is shared by every function, so it may not depend on any one of them (nor on tests).
Deno.test("_shared: production modules import only _shared and packages", async () => {
  const sharedDir = new URL("_shared/", functionsDir);
  const offenders: string[] = [];
  const walk = async (dir: URL) => {
    for await (const entry of Deno.readDir(dir)) {
      const url = new URL(entry.name + (entry.isDirectory ? "/" : ""), dir);
      if (entry.isDirectory) await walk(url);
      else if (entry.name.endsWith(".ts") && !entry.name.endsWith("_test.ts")) {
        const text = await Deno.readTextFile(url);
        for (
          const [, spec] of text.matchAll(/(?:from|import)\s*\(?\s*["'](\.{1,2}\/[^"']+)["']/g)
        ) {
          const target = new URL(spec, url).href;
          if (!target.startsWith(sharedDir.href)) offenders.push(`${url.href} -> ${spec}`);
        }
      }
    }
  };
  await walk(sharedDir);
  assert.deepEqual(offenders, []);
});
