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
