import assert from "node:assert/strict";
import { classify } from "./machine.ts";

const sentAt = new Date("2026-11-25T10:00:00Z");
const later = new Date("2026-11-25T10:30:00Z");
const SAFARI =
  "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148";
const CHROME =
  "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0 Safari/537.36";

Deno.test("a person opening or clicking later is human", () => {
  assert.deepEqual(
    classify({
      kind: "open",
      at: later,
      userAgent: SAFARI,
      ip: "198.51.100.4",
      sentAt,
    }),
    {
      machine: false,
    },
  );
  assert.equal(
    classify({ kind: "click", at: later, userAgent: CHROME, sentAt }).machine,
    false,
  );
  assert.equal(
    classify({ kind: "open", at: later, sentAt }).machine,
    false,
    "no UA known (webhook)",
  );
});

Deno.test("Apple Mail Privacy Protection prefetches are machine opens", () => {
  const apple = (userAgent: string, ip?: string) =>
    classify({ kind: "open", at: later, userAgent, ip, sentAt }).reason;
  assert.equal(apple("Mozilla/5.0"), "apple_mail_privacy_protection");
  assert.equal(apple(SAFARI, "17.58.101.12"), "apple_mail_privacy_protection");
  assert.equal(
    apple(SAFARI, "::ffff:17.1.2.3"),
    "apple_mail_privacy_protection",
  );
  assert.equal(apple(SAFARI, "171.1.2.3"), undefined, "171/8 is not Apple's");
});

Deno.test("image proxies, scanners, probes and blank agents are machines", () => {
  const reason = (
    userAgent: string | null,
    method = "GET",
    kind: "open" | "click" = "open",
  ) => classify({ kind, at: later, userAgent, method, sentAt }).reason;
  assert.equal(
    reason(
      "Mozilla/5.0 (Windows NT 5.1; rv:11.0) Gecko Firefox/11.0 (via ggpht.com GoogleImageProxy)",
    ),
    "google_image_proxy",
  );
  assert.equal(
    reason(
      "YahooMailProxy; https://help.yahoo.com/kb/yahoo-mail-proxy-SLN28749.html",
    ),
    "yahoo_image_proxy",
  );
  assert.equal(
    reason("python-requests/2.31", "GET", "click"),
    "scanner_user_agent",
  );
  assert.equal(
    reason("Mozilla/5.0 HeadlessChrome/120.0", "GET", "click"),
    "scanner_user_agent",
  );
  assert.equal(reason(CHROME, "HEAD", "click"), "head_request");
  assert.equal(reason("", "GET", "click"), "no_user_agent");
  assert.equal(reason(null, "GET", "click"), "no_user_agent");
});

Deno.test("opens and clicks within seconds of delivery are machines (link scanners)", () => {
  const at = (seconds: number, deliveredAt?: Date) =>
    classify({
      kind: "click",
      at: new Date(sentAt.getTime() + seconds * 1000),
      userAgent: CHROME,
      sentAt,
      deliveredAt,
    });
  assert.equal(at(3).reason, "within_10s_of_delivery");
  assert.equal(at(12).machine, false);
  const delivered = new Date(sentAt.getTime() + 60_000);
  assert.equal(
    at(65, delivered).machine,
    true,
    "counted from delivery when it is known",
  );
  assert.equal(at(30, delivered).machine, true, "before the recorded delivery");
  assert.equal(at(75, delivered).machine, false);
});
