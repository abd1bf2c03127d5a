// The snippet in a real browser: headless Chromium (Debian's chromium, installed by
// scripts/setup) loads a landing page with UTM parameters that includes beacon.js with a
// write key, clicks a button that calls beacon.track, and calls beacon.identify. The page
// view, the click and the identify arrive as rows, the page view recorded before the
// identify is attributed to the lead afterwards, the lead keeps its first touch, and its
// score moves by the owner's engagement rules.
import assert from "node:assert/strict";
import {
  addEngagementRule,
  createWriteKey,
  storedEvents,
  storedLead,
} from "../_testing/collect.ts";
import { dumpDom } from "../_testing/browser.ts";
import { serveFunctions } from "../_testing/email.ts";
import { createUser, deleteUsers } from "../_testing/harness.ts";

function landingPage(functionsUrl: string, key: string): string {
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Landing</title>
<script src="${functionsUrl}/collect/beacon.js" data-key="${key}" defer></script>
</head><body>
<button id="buy">Buy</button>
<script>
  window.addEventListener("load", function () {
    document.getElementById("buy").addEventListener("click", function () {
      beacon.track("buy_click", { plan: "pro" });
    });
    // The automatic page view goes first, anonymous; then the click and the identify.
    beacon.flush().then(function (first) {
      document.body.setAttribute("data-first", JSON.stringify(first));
      document.getElementById("buy").click();
      beacon.identify("grace@example.com", { first_name: "Grace" });
      return beacon.flush();
    }).then(function (second) {
      document.body.setAttribute("data-second", JSON.stringify(second));
      document.body.setAttribute("data-anonymous-id", beacon.anonymousId());
    });
  });
</script>
</body></html>`;
}

Deno.test({
  name:
    "beacon.js in headless Chromium: page view, click and identify become rows; the lead scores",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    const functions = await serveFunctions();
    const user = await createUser("browser");
    const key = await createWriteKey(user, "landing page");
    await addEngagementRule(user, {
      event_type: "page",
      properties: { path: "/landing" },
    }, 5);
    await addEngagementRule(user, {
      event_type: "track",
      event_name: "buy_click",
    }, 3);
    const site = Deno.serve(
      { hostname: "127.0.0.1", port: 0, onListen: () => {} },
      () =>
        new Response(landingPage(functions.url, key), {
          headers: { "content-type": "text/html; charset=utf-8" },
        }),
    );
    try {
      const page =
        `http://127.0.0.1:${site.addr.port}/landing?utm_source=chromium&utm_medium=test` +
        "&utm_campaign=launch";
      const dom = await dumpDom(page);
      assert.match(
        dom,
        /data-first="\{&quot;accepted&quot;:1,/,
        `the page view was sent:\n${dom}`,
      );
      assert.match(
        dom,
        /data-second="\{&quot;accepted&quot;:2,/,
        "the click and the identify",
      );
      const anonymousId = dom.match(/data-anonymous-id="([^"]+)"/)?.[1];
      assert.ok(anonymousId, "the snippet has an anonymous id");

      const lead = await storedLead(user, "grace@example.com");
      assert.ok(lead, "the identify created the lead");
      assert.deepEqual([lead.source, lead.first_name], ["website", "Grace"]);
      assert.equal(
        lead.event_points,
        8,
        "5 for the landing page view, 3 for the click",
      );
      assert.equal(
        lead.score,
        8,
        "a new lead with no profile points scores its engagement",
      );
      const touch = lead.custom_fields.first_touch as Record<string, string>;
      assert.deepEqual(
        [touch.utm_source, touch.utm_medium, touch.utm_campaign],
        [
          "chromium",
          "test",
          "launch",
        ],
      );

      const rows = await storedEvents(user);
      const kinds = rows.map((r) => `${r.event_type}/${r.event_name}`).sort();
      assert.deepEqual(kinds, [
        "identify/identify",
        "page/page_view",
        "track/buy_click",
      ]);
      for (const row of rows) {
        assert.equal(row.anonymous_id, anonymousId);
        assert.equal(
          row.properties.utm_campaign,
          "launch",
          `${row.event_type} carries the UTM`,
        );
        assert.match(row.user_agent ?? "", /Chrome/);
        assert.ok(row.message_id, "the snippet gives every event a message id");
      }
      const view = rows.find((r) => r.event_type === "page")!;
      assert.equal(view.properties.path, "/landing");
      assert.equal(
        view.properties.lead_id,
        lead.id,
        "the earlier page view is attributed",
      );
      const click = rows.find((r) => r.event_type === "track")!;
      assert.deepEqual([click.properties.plan, click.properties.lead_id], [
        "pro",
        lead.id,
      ]);
    } catch (err) {
      console.error(functions.log());
      throw err;
    } finally {
      await site.shutdown();
      await deleteUsers(user);
      await functions.stop();
    }
  },
});
