// README.md stays a five-minute read that tells the truth: at most 150 lines, every path in its
// layout exists, and it links every page in docs/ (and every link between docs resolves).
import assert from "node:assert/strict";

const root = new URL("../../", import.meta.url).pathname;
const readme = await Deno.readTextFile(`${root}README.md`);
const exists = (path: string) => Deno.stat(`${root}${path}`).then(() => true, () => false);

/** The relative markdown links of a text, without their #anchors. */
const links = (markdown: string) =>
  [...markdown.matchAll(/\]\(([^)#:\s]+)(#[^)]*)?\)/g)].map((match) => match[1]);

Deno.test("README.md is at most 150 lines", () => {
  const lines = readme.trimEnd().split("\n").length;
  assert.ok(lines <= 150, `README.md has ${lines} lines`);
});

Deno.test("every path in the README's layout exists", async () => {
  const layout = /## Layout\n\n```text\n([\s\S]*?)```/.exec(readme)?.[1];
  assert.ok(layout, "README.md has no layout block");
  const paths = layout.split("\n").map((line) => line.split(/\s+/)[0])
    .filter((path) => path && !path.includes("<"));
  assert.ok(paths.length > 10, "the layout lists too few paths");
  const missing = [];
  for (const path of paths) if (!(await exists(path))) missing.push(path);
  assert.deepEqual(missing, []);
});

Deno.test("README.md links every docs page, and every docs link resolves", async () => {
  const pages = [...Deno.readDirSync(`${root}docs`)].map((entry) => `docs/${entry.name}`).sort();
  const linked = new Set(links(readme));
  assert.deepEqual(pages.filter((page) => !linked.has(page)), [], "docs pages the README omits");
  const broken = [];
  for (const link of linked) if (!(await exists(link))) broken.push(`README.md → ${link}`);
  for (const page of pages) {
    for (const link of links(await Deno.readTextFile(`${root}${page}`))) {
      if (!(await exists(`docs/${link}`))) broken.push(`${page} → ${link}`);
    }
  }
  assert.deepEqual(broken, []);
});
