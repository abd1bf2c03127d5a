import assert from "node:assert/strict";
import { escapeHtml } from "./html.ts";
import { lookup, merge } from "./merge.ts";

const ada = {
  email: "ada@example.com",
  first_name: "Ada",
  last_name: "Lovelace",
  merge_data: {
    company: "Analytical Engines",
    plan: { name: "Pro", seats: 3 },
    empty: "  ",
  },
};
const nobody = {
  email: "x@example.com",
  first_name: null,
  last_name: "",
  merge_data: null,
};

Deno.test("merge tags take the recipient's values, with or without spaces", () => {
  assert.equal(
    merge(
      "Hi {{first_name}} {{ last_name }} <{{email}}> at {{data.company}}",
      ada,
    ),
    "Hi Ada Lovelace <ada@example.com> at Analytical Engines",
  );
  assert.equal(
    merge("{{data.plan.name}} x{{ data.plan.seats }}", ada),
    "Pro x3",
  );
});

Deno.test("a missing or blank value takes the fallback, else renders as nothing", () => {
  assert.equal(merge("Hi {{first_name|there}},", nobody), "Hi there,");
  assert.equal(
    merge("Hi {{ first_name | dear reader }},", nobody),
    "Hi dear reader,",
  );
  assert.equal(
    merge("Hi {{first_name|there}},", ada),
    "Hi Ada,",
    "the value wins",
  );
  assert.equal(merge("[{{last_name}}]", nobody), "[]", "blank is missing");
  assert.equal(merge("[{{data.empty|n/a}}]", ada), "[n/a]");
  assert.equal(
    merge("[{{data.nope}}][{{data.plan}}][{{unknown_tag|?}}]", ada),
    "[][][?]",
  );
  assert.equal(
    merge("[{{data.company.deeper}}]", ada),
    "[]",
    "a path through a string",
  );
});

Deno.test("inserted values are escaped for the HTML part; other braces are left alone", () => {
  const mallory = {
    email: "m@example.com",
    first_name: "<script>x</script>",
    merge_data: {},
  };
  assert.equal(
    merge("<p>Hi {{first_name}}</p>", mallory, escapeHtml),
    "<p>Hi &lt;script&gt;x&lt;/script&gt;</p>",
  );
  assert.equal(
    merge("{ not a tag } {{ }} {{1x}}", ada),
    "{ not a tag } {{ }} {{1x}}",
  );
});

Deno.test("merge data cannot reach the prototype", () => {
  assert.equal(lookup("data.constructor", ada), undefined);
  assert.equal(lookup("data.__proto__", ada), undefined);
  assert.equal(
    lookup("unsubscribe_url", ada, { unsubscribe_url: "https://u" }),
    "https://u",
  );
});
