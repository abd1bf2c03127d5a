// Rate limits on the public routes, over real HTTP to the functions served as scripts/start
// serves them (with small limits and a short window): a limit trips with 429 and
// Retry-After, another address or token is unaffected, and the next window starts afresh.
import assert from "node:assert/strict";
import { Hono } from "hono";
import { Webhook } from "standardwebhooks";
import { serveFunctions } from "../_testing/email.ts";
import { readTrackingSettings } from "./email/settings.ts";
import { signToken } from "./email/tokens.ts";
import { ConfigError } from "./env.ts";
import { clientAddress, hitRateLimits, rateLimit, readRateLimitSettings } from "./rate_limit.ts";

const WINDOW_SECONDS = 4;
const LIMITS = {
  BEACON_RATE_LIMIT_WINDOW_SECONDS: String(WINDOW_SECONDS),
  BEACON_RATE_LIMIT_TRACK_PER_IP: "6",
  BEACON_RATE_LIMIT_TRACK_PER_TOKEN: "3",
  BEACON_RATE_LIMIT_WEBHOOKS_PER_IP: "4",
  BEACON_RATE_LIMIT_WEBHOOKS_PER_TOKEN: "2",
};

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Waits for a fresh window, so a scenario's requests all fall in one window. */
async function windowStart() {
  const windowMs = WINDOW_SECONDS * 1000;
  await sleep(windowMs - (Date.now() % windowMs) + 50);
}

/** An address no other test (nor an earlier run within the window) uses. */
const randomIp = () =>
  `2001:db8:${
    Array.from({ length: 6 }, () => Math.floor(Math.random() * 0xffff).toString(16))
      .join(":")
  }`;

const key = readTrackingSettings().key;
const openToken = () => signToken(key, "open", crypto.randomUUID());
const unsubscribeToken = () => signToken(key, "unsubscribe", crypto.randomUUID());

async function withFunctions(work: (url: string) => Promise<void>) {
  const functions = await serveFunctions(LIMITS);
  try {
    await work(functions.url);
  } catch (err) {
    console.error(functions.log());
    throw err;
  } finally {
    await functions.stop();
  }
}

/** GETs `path` from `ip`; returns the status, Retry-After and body (the body is read). */
async function hit(url: string, ip: string, init: RequestInit = {}) {
  const res = await fetch(url, {
    ...init,
    headers: { "cf-connecting-ip": ip, ...init.headers },
    redirect: "manual",
  });
  return {
    status: res.status,
    retryAfter: res.headers.get("retry-after"),
    type: res.headers.get("content-type") ?? "",
    body: await res.text(),
  };
}

Deno.test("track: a token's limit trips with 429 and Retry-After; other tokens go on", async () => {
  await withFunctions(async (base) => {
    await windowStart();
    const ip = randomIp();
    const token = openToken();
    for (let i = 1; i <= 3; i++) {
      assert.equal(
        (await hit(`${base}/track/open/${token}`, ip)).status,
        200,
        `open ${i} of 3`,
      );
    }
    const refused = await hit(`${base}/track/open/${token}`, ip);
    assert.equal(refused.status, 429);
    assert.ok(
      Number(refused.retryAfter) >= 1 &&
        Number(refused.retryAfter) <= WINDOW_SECONDS,
    );
    assert.match(
      refused.type,
      /^application\/json/,
      "an image request gets JSON",
    );
    assert.deepEqual(JSON.parse(refused.body), {
      error: "rate_limited",
      message: `Too many requests: try again in ${refused.retryAfter} seconds.`,
      retry_after_seconds: Number(refused.retryAfter),
    });
    assert.equal(
      (await hit(`${base}/track/open/${token}`, randomIp())).status,
      429,
      "the token's limit holds from any address",
    );
    assert.equal(
      (await hit(`${base}/track/open/${openToken()}`, ip)).status,
      200,
      "another token from the same address is unaffected",
    );
  });
});

Deno.test("track: an address's limit trips for every route; other addresses go on; the window resets", async () => {
  await withFunctions(async (base) => {
    await windowStart();
    const ip = randomIp();
    for (let i = 1; i <= 6; i++) {
      assert.equal(
        (await hit(`${base}/track/open/${openToken()}`, ip)).status,
        200,
        `hit ${i}`,
      );
    }
    const page = await hit(
      `${base}/track/unsubscribe/${unsubscribeToken()}`,
      ip,
      {
        headers: { accept: "text/html,application/xhtml+xml" },
      },
    );
    assert.equal(
      page.status,
      429,
      "the address is spent, whatever the route or token",
    );
    assert.match(page.type, /^text\/html/, "a browser gets a page");
    assert.match(page.body, /Too many requests: try again in \d seconds\./);
    assert.ok(Number(page.retryAfter) >= 1);
    const post = await hit(
      `${base}/track/unsubscribe/${unsubscribeToken()}`,
      ip,
      {
        method: "POST",
        headers: { "content-type": "application/x-www-form-urlencoded" },
        body: "List-Unsubscribe=One-Click",
      },
    );
    assert.equal(
      post.status,
      404,
      "the one-click POST is never limited: an unknown delivery's page",
    );
    assert.equal(post.retryAfter, null);
    const click = await hit(
      `${base}/track/click/${openToken()}?u=https://example.com/`,
      ip,
    );
    assert.equal(click.status, 429);

    assert.equal(
      (await hit(`${base}/track/open/${openToken()}`, randomIp())).status,
      200,
      "another address is unaffected",
    );
    assert.equal(
      (await hit(`${base}/track/open/${openToken()}`, "198.51.100.23")).status,
      200,
      "an IPv4 address has its own count too",
    );

    await sleep(Number(page.retryAfter) * 1000 + 100);
    assert.equal(
      (await hit(`${base}/track/open/${openToken()}`, ip)).status,
      200,
      "after Retry-After a new window lets the address in again",
    );
  });
});

Deno.test("webhooks: per delivery id and per address, before the signature is looked at", async () => {
  await withFunctions(async (base) => {
    const signer = new Webhook(Deno.env.get("RESEND_WEBHOOK_SECRET")!);
    const post = (ip: string, id: string) => {
      const body = JSON.stringify({
        type: "contact.created",
        created_at: new Date().toISOString(),
        data: {},
      });
      const now = new Date();
      return hit(`${base}/webhooks/resend`, ip, {
        method: "POST",
        headers: {
          "content-type": "application/json",
          "svix-id": id,
          "svix-timestamp": String(Math.floor(now.getTime() / 1000)),
          "svix-signature": signer.sign(id, now, body),
        },
        body,
      });
    };
    await windowStart();
    const ip = randomIp();
    const id = `msg_${crypto.randomUUID()}`;
    const first = await post(ip, id);
    assert.equal(first.status, 200, first.body);
    assert.deepEqual(JSON.parse(first.body), {
      ignored: "contact.created is not tracked",
    });
    assert.deepEqual(JSON.parse((await post(ip, id)).body), {
      duplicate: true,
    });
    const replay = await post(ip, id);
    assert.equal(
      replay.status,
      429,
      "a third delivery of one id in a window is refused",
    );
    assert.ok(Number(replay.retryAfter) >= 1);
    assert.equal(JSON.parse(replay.body).error, "rate_limited");

    assert.equal(
      (await post(ip, `msg_${crypto.randomUUID()}`)).status,
      200,
      "hit 4 of 4",
    );
    assert.equal(
      (await post(ip, `msg_${crypto.randomUUID()}`)).status,
      429,
      "hit 5 of 4",
    );
    const unsigned = await hit(`${base}/webhooks/resend`, ip, {
      method: "POST",
      body: "{}",
    });
    assert.equal(
      unsigned.status,
      429,
      "the limit comes before the signature check",
    );
    assert.equal(
      (await post(randomIp(), `msg_${crypto.randomUUID()}`)).status,
      200,
    );
  });
});

Deno.test("clientAddress: the configured header only, a list read from its right", () => {
  const headers = new Headers({
    "cf-connecting-ip": "203.0.113.9",
    "x-forwarded-for": "6.6.6.6, 198.51.100.7",
  });
  assert.equal(clientAddress(headers, "cf-connecting-ip"), "203.0.113.9");
  assert.equal(
    clientAddress(headers, "x-forwarded-for"),
    "198.51.100.7",
    "the right-most entry, added by the nearest proxy, not the client's own first entry",
  );
  assert.equal(clientAddress(headers, "x-real-ip"), undefined);
  assert.equal(
    clientAddress(
      new Headers({ "cf-connecting-ip": "nonsense" }),
      "cf-connecting-ip",
    ),
    undefined,
  );
});

Deno.test("readRateLimitSettings: defaults per limit, overrides, and bad values named", () => {
  assert.deepEqual(
    readRateLimitSettings("forms", { perIp: 30, perToken: 5 }, {}),
    {
      name: "forms",
      perIp: 30,
      perToken: 5,
      windowSeconds: 60,
      ipHeader: "cf-connecting-ip",
    },
  );
  assert.deepEqual(
    readRateLimitSettings("forms", { perIp: 30, perToken: 5 }, {
      BEACON_RATE_LIMIT_FORMS_PER_IP: "100",
      BEACON_RATE_LIMIT_WINDOW_SECONDS: "10",
      BEACON_CLIENT_IP_HEADER: "X-Real-IP",
    }),
    {
      name: "forms",
      perIp: 100,
      perToken: 5,
      windowSeconds: 10,
      ipHeader: "x-real-ip",
    },
  );
  assert.throws(
    () =>
      readRateLimitSettings("forms", { perIp: 30, perToken: 5 }, {
        BEACON_RATE_LIMIT_FORMS_PER_TOKEN: "0",
      }),
    (err: Error) =>
      err instanceof ConfigError &&
      /BEACON_RATE_LIMIT_FORMS_PER_TOKEN/.test(err.message),
  );
  assert.throws(
    () =>
      readRateLimitSettings("forms", { perIp: 30, perToken: 5 }, {
        BEACON_CLIENT_IP_HEADER: "x forwarded",
      }),
    (err: Error) =>
      err instanceof ConfigError &&
      /BEACON_CLIENT_IP_HEADER must be a header name/.test(err.message),
  );
});

Deno.test("hitRateLimits: nothing to count counts nothing", async () => {
  const settings = readRateLimitSettings("test", { perIp: 1, perToken: 1 }, {});
  assert.equal(await hitRateLimits(settings, undefined, undefined), null);
});

Deno.test("rateLimit: when Postgres cannot count, the request goes through and it is logged", async () => {
  // A window Postgres refuses stands in for a database that cannot be asked.
  const broken = {
    ...readRateLimitSettings("test", { perIp: 1, perToken: 1 }, {}),
    windowSeconds: 0,
  };
  const app = new Hono();
  app.use("/:token", rateLimit(broken, { token: (c) => c.req.param("token") }));
  app.get("/:token", (c) => c.text("served"));
  const logged: unknown[] = [];
  const original = console.error;
  console.error = (...args: unknown[]) => logged.push(args);
  try {
    const res = await app.request("/abc", {
      headers: { "cf-connecting-ip": randomIp() },
    });
    assert.equal(res.status, 200);
    assert.equal(await res.text(), "served");
  } finally {
    console.error = original;
  }
  assert.match(
    String((logged[0] as unknown[])[0]),
    /\[rate limit\] test: not checked, request let through/,
  );
});
