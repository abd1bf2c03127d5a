// The four publishers over real HTTP against the fake platforms: what each outcome looks like
// for a post, an expired token, a rate limit, a lost answer and a refusal; which recent post is
// taken for a target's.
import assert from "node:assert/strict";
import { authorOn, type Fakes, startFakes } from "../../_testing/fakes/server.ts";
import type { FakeState } from "../../_testing/fakes/state.ts";
import type { Platform } from "../providers/config.ts";
import { metaThrottleSeconds } from "./meta.ts";
import { CLOCK_SKEW_MS, type PublishOutcome, type PublishTarget } from "./outcome.ts";
import { createPublishers, type Publishers } from "./publishers.ts";
import { readSocialSettings } from "./settings.ts";

type Setup = { fakes: Fakes; publishers: Publishers };

async function withFakes(test: (setup: Setup) => Promise<void>, env: Record<string, string> = {}) {
  const fakes = await startFakes();
  // The client gives up after 300 ms; the fake then lets go of an accepted request soon.
  for (const platform of PLATFORMS) stateOf(fakes, platform).hangMs = 1000;
  const all = { ...fakes.env, BEACON_SOCIAL_ALLOW_LOOPBACK_MEDIA: "true", ...env };
  // Uploads to X in 32 KB segments: the fakes' 48 KB video takes two.
  const settings = {
    ...readSocialSettings(all),
    timeoutMs: 300,
    containerPollMs: 5,
    xChunkBytes: 32 * 1024,
  };
  try {
    await test({ fakes, publishers: createPublishers(all, settings) });
  } finally {
    await fakes.close();
  }
}

const stateOf = (fakes: Fakes, platform: Platform): FakeState => fakes[platform];

/** A target on `platform` with a token the fake accepts (granted `scopes`), first tried now. */
function target(
  fakes: Fakes,
  platform: Platform,
  extra: Partial<PublishTarget> = {},
  scopes: string[] = [],
): PublishTarget {
  const state = stateOf(fakes, platform);
  const needsMedia = platform === "instagram";
  return {
    accessToken: state.issueAccessToken({ clientId: state.clientId, scopes }),
    platformUserId: state.account.id,
    accountId: platform === "facebook" ? "page-1" : null,
    text: `Launch day ${platform}`,
    mediaUrls: needsMedia ? [`${fakes.url}/media/launch.png`] : [],
    firstAttemptAt: new Date(),
    ...extra,
  };
}

const PLATFORMS: Platform[] = ["twitter", "linkedin", "facebook", "instagram"];

for (const platform of PLATFORMS) {
  Deno.test(`${platform}: a post is published once, with its id and URL, and its metrics read`, () =>
    withFakes(async ({ fakes, publishers }) => {
      const t = target(fakes, platform);
      const outcome = await publishers[platform].publish(t);
      assert.equal(outcome.kind, "published", JSON.stringify(outcome));
      const { id, url } = outcome as Extract<PublishOutcome, { kind: "published" }>;
      assert.equal(stateOf(fakes, platform).posts.length, 1);
      assert.equal(stateOf(fakes, platform).posts[0].text, t.text);
      assert.ok(id.length > 0);
      assert.match(url ?? "", /^https:\/\//);
      const metrics = await publishers[platform].metrics({ ...t, postId: id });
      assert.ok(!("kind" in metrics), JSON.stringify(metrics));
      assert.equal((metrics as { likes?: number }).likes, 3);
      assert.equal((metrics as { replies?: number }).replies, 1);
    }));

  Deno.test(`${platform}: an expired token is expired_token, and nothing is posted`, () =>
    withFakes(async ({ fakes, publishers }) => {
      const outcome = await publishers[platform].publish({
        ...target(fakes, platform),
        accessToken: "expired",
      });
      assert.equal(outcome.kind, "expired_token", JSON.stringify(outcome));
      assert.equal(stateOf(fakes, platform).posts.length, 0);
    }));

  Deno.test(`${platform}: accepted then no answer is maybe_posted, and the post is found`, () =>
    withFakes(async ({ fakes, publishers }) => {
      stateOf(fakes, platform).failNext("publish", "accept_then_timeout");
      const t = target(fakes, platform, { text: `Timed out on ${platform}` });
      const outcome = await publishers[platform].publish(t);
      assert.equal(outcome.kind, "maybe_posted", JSON.stringify(outcome));
      const found = await publishers[platform].findRecent(t);
      assert.ok(found && !("kind" in found), JSON.stringify(found));
      assert.equal(stateOf(fakes, platform).posts.length, 1);
      assert.equal(await publishers[platform].findRecent({ ...t, text: "another" }), undefined);
    }));

  Deno.test(`${platform}: an identical post from before the first attempt is not taken for ours`, () =>
    withFakes(async ({ fakes, publishers }) => {
      const state = stateOf(fakes, platform);
      const t = target(fakes, platform, { text: `Happy Friday on ${platform}` });
      const older = state.post(authorOn(fakes, platform), t.text);
      older.createdAt = t.firstAttemptAt.getTime() - CLOCK_SKEW_MS - 60_000;
      assert.equal(await publishers[platform].findRecent(t), undefined);
      // Within the clock-skew allowance it may be ours (the platform's clock runs behind).
      older.createdAt = t.firstAttemptAt.getTime() - CLOCK_SKEW_MS + 60_000;
      const skewed = await publishers[platform].findRecent(t);
      assert.ok(skewed && !("kind" in skewed), JSON.stringify(skewed));
      // Days older (X refuses a text posted within the day); our new post is the one found.
      older.createdAt = t.firstAttemptAt.getTime() - 2 * 86400_000;
      const outcome = await publishers[platform].publish(t);
      assert.equal(outcome.kind, "published", JSON.stringify(outcome));
      const found = await publishers[platform].findRecent(t);
      assert.deepEqual(found, {
        id: (outcome as Extract<PublishOutcome, { kind: "published" }>).id,
        url: (outcome as Extract<PublishOutcome, { kind: "published" }>).url,
      });
    }));

  Deno.test(`${platform}: a 5xx on the publishing call is maybe_posted`, () =>
    withFakes(async ({ fakes, publishers }) => {
      stateOf(fakes, platform).failNext("publish", "server_error");
      const outcome = await publishers[platform].publish(target(fakes, platform));
      assert.equal(outcome.kind, "maybe_posted", JSON.stringify(outcome));
    }));

  Deno.test(`${platform}: a permanent refusal fails with the platform's message`, () =>
    withFakes(async ({ fakes, publishers }) => {
      const endpoint = platform === "instagram" ? "container" : "publish";
      stateOf(fakes, platform).failNext(endpoint, "rejected");
      const outcome = await publishers[platform].publish(target(fakes, platform));
      assert.equal(outcome.kind, "failed", JSON.stringify(outcome));
      const expected = {
        twitter: /duplicate content/,
        linkedin: /Content is a duplicate/,
        facebook: /Invalid parameter/,
        instagram: /Media download has failed/,
      }[platform];
      assert.match((outcome as { message: string }).message, expected);
    }));
}

Deno.test("rate limits wait for the platform's reset without counting an attempt", () =>
  withFakes(async ({ fakes, publishers }) => {
    const wait = async (platform: Platform) => {
      stateOf(fakes, platform).failNext("publish", "rate_limited");
      const outcome = await publishers[platform].publish(target(fakes, platform));
      assert.equal(outcome.kind, "retry", JSON.stringify(outcome));
      const retry = outcome as Extract<PublishOutcome, { kind: "retry" }>;
      assert.equal(retry.countAttempt, false);
      return retry.afterSeconds;
    };
    // x-rate-limit-reset is 900 s ahead on the fake.
    const x = await wait("twitter");
    assert.ok(x > 890 && x <= 900, String(x));
    // X-Business-Use-Case-Usage's estimated_time_to_regain_access, in minutes: 7 (the fake's
    // default) for the page, 11 for the Instagram account; never the 5-minute fallback.
    assert.equal(fakes.facebook.regainAccessMinutes, 7);
    assert.equal(await wait("facebook"), 7 * 60);
    fakes.instagram.regainAccessMinutes = 11;
    assert.equal(await wait("instagram"), 11 * 60);
    // LinkedIn's daily quota resets at midnight UTC.
    const midnight = new Date();
    midnight.setUTCHours(24, 0, 0, 0);
    const linkedin = await wait("linkedin");
    assert.ok(Math.abs(linkedin - (midnight.getTime() - Date.now()) / 1000) < 5);
  }));

Deno.test("x: media is uploaded first and the post carries its media id", () =>
  withFakes(async ({ fakes, publishers }) => {
    const outcome = await publishers.twitter.publish(
      target(fakes, "twitter", { mediaUrls: [`${fakes.url}/media/a.png`] }),
    );
    assert.equal(outcome.kind, "published");
    assert.equal(fakes.twitter.hits.media, 1);
    assert.deepEqual(fakes.twitter.posts[0].media, ["1890000000000"]);
  }));

Deno.test("x: a video goes up in chunks and is posted once X has processed it", () =>
  withFakes(async ({ fakes, publishers }) => {
    const outcome = await publishers.twitter.publish(
      target(fakes, "twitter", { mediaUrls: [`${fakes.url}/media/launch.mp4`] }),
    );
    assert.equal(outcome.kind, "published", JSON.stringify(outcome));
    const hits = fakes.twitter.hits;
    // Two segments; STATUS read until succeeded; the simple upload never used.
    assert.deepEqual(
      [hits.media_init, hits.media_append, hits.media_finalize, hits.processing, hits.media],
      [1, 2, 1, 2, undefined],
    );
    assert.equal(fakes.twitter.posts[0].media.length, 1);
  }));

Deno.test("x: a video X cannot process fails with X's reason, and nothing is posted", () =>
  withFakes(async ({ fakes, publishers }) => {
    fakes.twitter.failNext("processing", "rejected");
    const outcome = await publishers.twitter.publish(
      target(fakes, "twitter", { mediaUrls: [`${fakes.url}/media/launch.mp4`] }),
    );
    assert.deepEqual(outcome, {
      kind: "failed",
      message: "X could not process the media: Unsupported video format",
    });
    assert.equal(fakes.twitter.posts.length, 0);
  }));

Deno.test("x: media from anything but https:// is refused before any call", () =>
  withFakes(async ({ fakes, publishers }) => {
    const outcome = await publishers.twitter.publish(
      target(fakes, "twitter", { mediaUrls: ["http://example.com/a.png"] }),
    );
    assert.equal(outcome.kind, "failed");
    assert.match((outcome as { message: string }).message, /must be an https:\/\/ URL/);
    assert.equal(fakes.twitter.hits.media, undefined);
  }));

Deno.test("meta: the wait comes from the usage headers Meta sends, else Retry-After, else 5 minutes", () => {
  const usage = (value: unknown) =>
    new Headers({ "x-business-use-case-usage": JSON.stringify(value) });
  // Several business objects: the longest wait counts.
  assert.equal(
    metaThrottleSeconds(usage({
      "1": [{ type: "pages", call_count: 100, estimated_time_to_regain_access: 7 }],
      "2": [{ type: "instagram", call_count: 40, estimated_time_to_regain_access: 0 }],
      "3": [{ type: "pages", call_count: 100, estimated_time_to_regain_access: 13 }],
    })),
    13 * 60,
  );
  // X-App-Usage reports percentages, not a time to wait.
  const app = new Headers({
    "x-app-usage": JSON.stringify({ call_count: 100, total_cputime: 12, total_time: 30 }),
  });
  assert.equal(metaThrottleSeconds(app), 300);
  assert.equal(metaThrottleSeconds(new Headers({ "retry-after": "45" })), 45);
  assert.equal(
    metaThrottleSeconds(new Headers({ "x-business-use-case-usage": "{not json" })),
    300,
  );
});

Deno.test("linkedin: a page of the connection is the author; anything but a URN is refused", () =>
  withFakes(async ({ fakes, publishers }) => {
    const page = "urn:li:organization:10000001";
    const scopes = ["w_member_social", "w_organization_social", "r_organization_social"];
    const t = target(fakes, "linkedin", { accountId: page }, scopes);
    const outcome = await publishers.linkedin.publish(t);
    assert.equal(outcome.kind, "published", JSON.stringify(outcome));
    assert.equal(fakes.linkedin.posts[0].author, page);
    assert.ok(await publishers.linkedin.findRecent(t));
    // A bare id, or the URN prefixed twice (what author() once made of a URN), is no author.
    for (const accountId of ["10000001", `urn:li:organization:${page}`]) {
      const refused = await publishers.linkedin.publish({ ...t, accountId });
      assert.equal(refused.kind, "failed", JSON.stringify(refused));
      assert.match(
        (refused as { message: string }).message,
        /422: ERROR :: \/author :: .* does not match/,
      );
    }
    // Without the organisation scopes LinkedIn refuses posting as the page.
    const member = await publishers.linkedin.publish(
      target(fakes, "linkedin", { accountId: page, text: "Other" }, ["w_member_social"]),
    );
    assert.match(
      (member as { message: string }).message,
      /403: Organization permissions must be used when using organization as author/,
    );
    assert.equal(fakes.linkedin.posts.length, 1);
  }));

Deno.test("linkedin: an outdated LinkedIn-Version (426) fails and names the setting", () =>
  withFakes(async ({ fakes, publishers }) => {
    const outcome = await publishers.linkedin.publish(target(fakes, "linkedin"));
    assert.equal(outcome.kind, "failed");
    assert.match(
      (outcome as { message: string }).message,
      /426: Requested version 202301 is not active.*set BEACON_LINKEDIN_VERSION/,
    );
  }, { BEACON_LINKEDIN_VERSION: "202301" }));

Deno.test("linkedin: without BEACON_LINKEDIN_VERSION nothing is sent", () =>
  withFakes(async ({ fakes, publishers }) => {
    const outcome = await publishers.linkedin.publish(target(fakes, "linkedin"));
    assert.deepEqual(outcome, {
      kind: "failed",
      message: "LinkedIn publishing is not configured: set BEACON_LINKEDIN_VERSION (YYYYMM)",
    });
    assert.equal(fakes.linkedin.hits.publish, undefined);
  }, { BEACON_LINKEDIN_VERSION: "" }));

Deno.test("facebook: a photo goes to /photos, and a page the user lost fails", () =>
  withFakes(async ({ fakes, publishers }) => {
    const photo = await publishers.facebook.publish(
      target(fakes, "facebook", { mediaUrls: ["https://cdn.example/p.png"] }),
    );
    assert.equal(photo.kind, "published");
    assert.match((photo as { id: string }).id, /^page-1_/);
    assert.deepEqual(fakes.facebook.posts[0].media, ["https://cdn.example/p.png"]);
    const lost = await publishers.facebook.publish(
      target(fakes, "facebook", { accountId: "page-9" }),
    );
    assert.equal(lost.kind, "failed");
    assert.match((lost as { message: string }).message, /no longer manages page page-9/);
  }));

Deno.test("instagram: waits for the container, and a post without media fails at once", () =>
  withFakes(async ({ fakes, publishers }) => {
    const outcome = await publishers.instagram.publish(target(fakes, "instagram"));
    assert.equal(outcome.kind, "published");
    assert.equal(fakes.instagram.hits.status >= 2, true);
    const none = await publishers.instagram.publish(
      target(fakes, "instagram", { mediaUrls: [] }),
    );
    assert.deepEqual(none, {
      kind: "failed",
      message: "Instagram posts need an image or video URL",
    });
  }));
