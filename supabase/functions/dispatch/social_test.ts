// The publishing lane's handling of one target, over real HTTP against the fake platforms, with
// connections made by the real OAuth flow and stored in Postgres: refresh once on an expired
// token, needs_reauth when the refresh is refused, reconciliation instead of a second post,
// rate limits that spend no attempt, the platform's words on a refusal.
import assert from "node:assert/strict";
import { keyRing } from "../_shared/crypto.ts";
import type { UserClaims } from "../_shared/db.ts";
import type { Platform } from "../_shared/providers/config.ts";
import { createProviders } from "../_shared/providers/registry.ts";
import { createPublishers } from "../_shared/social/publishers.ts";
import { readSocialSettings } from "../_shared/social/settings.ts";
import type { Fakes } from "../_testing/fakes/server.ts";
import { connect, connectionOf, scenarios, type TestApp, testEnv } from "../_testing/oauth.ts";
import { postingConnections } from "./queries.ts";
import type { ClaimedPost } from "./queries.ts";
import { createSocialLane } from "./social.ts";

const scenario = scenarios("publish");

/** A lane wired to `fakes`, with a short platform timeout. */
async function laneFor(fakes: Fakes) {
  const env = { ...testEnv(fakes), BEACON_SOCIAL_ALLOW_LOOPBACK_MEDIA: "true" };
  const settings = {
    ...readSocialSettings(env),
    timeoutMs: 500,
    containerPollMs: 5,
  };
  for (const platform of PLATFORMS) fakes[platform].hangMs = 1500;
  return createSocialLane({
    publishers: createPublishers(env, settings),
    providers: createProviders(env),
    ring: await keyRing(),
    concurrency: 4,
    batch: 50,
  });
}

const PLATFORMS: Platform[] = ["twitter", "linkedin", "facebook", "instagram"];

/** A lane, the scenario's user connected to `platform`, and a claimed target on it. */
async function targetOn(
  { app, fakes, user }: { app: TestApp; fakes: Fakes; user: UserClaims },
  platform: Platform,
  extra: Partial<ClaimedPost> = {},
) {
  const lane = await laneFor(fakes);
  await connect(app, user, platform);
  const connection = (await connectionOf(user, platform))!;
  const row: ClaimedPost = {
    job_id: "1",
    social_post_id: crypto.randomUUID(),
    user_id: user.sub,
    platform,
    social_connection_id: connection.id,
    account_id: platform === "facebook" ? "page-1" : null,
    text: `Launch day on ${platform}`,
    media_urls: platform === "instagram" ? [`${fakes.url}/media/launch.png`] : [],
    first_attempt_at: new Date(),
    attempts: 1,
    ...extra,
  };
  const load = async () => (await postingConnections([connection.id])).get(connection.id);
  return { lane, row, load };
}

for (const platform of PLATFORMS) {
  scenario(
    `${platform}: a target is published with the platform's id and URL`,
    async (ctx) => {
      const { lane, row, load } = await targetOn(ctx, platform);
      const result = await lane.publish(row, await load());
      assert.equal(result.outcome, "published", JSON.stringify(result));
      assert.equal(ctx.fakes[platform].posts.length, 1);
    },
  );

  scenario(
    `${platform}: accepted then timed out ends published with one post on the platform`,
    async (ctx) => {
      const { lane, row, load } = await targetOn(ctx, platform);
      ctx.fakes[platform].failNext("publish", "accept_then_timeout");
      const result = await lane.publish(row, await load());
      assert.equal(result.outcome, "published", JSON.stringify(result));
      assert.equal(result.reconciled, true);
      assert.equal(ctx.fakes[platform].posts.length, 1);
    },
  );
}

scenario(
  "a target claimed again is looked up first and not posted twice",
  async (ctx) => {
    const { lane, row, load } = await targetOn(ctx, "linkedin");
    assert.equal((await lane.publish(row, await load())).outcome, "published");
    const again = await lane.publish({ ...row, attempts: 2 }, await load());
    assert.equal(again.outcome, "published");
    assert.equal(again.reconciled, true);
    assert.equal(ctx.fakes.linkedin.posts.length, 1);
    assert.equal(ctx.fakes.linkedin.hits.publish, 1);
  },
);

scenario(
  "a 5xx whose post is not there goes back to the queue, counted",
  async (ctx) => {
    const { lane, row, load } = await targetOn(ctx, "twitter");
    ctx.fakes.twitter.failNext("publish", "server_error");
    const result = await lane.publish(row, await load());
    assert.equal(result.outcome, "retry");
    assert.equal((result as { count_attempt: boolean }).count_attempt, true);
    assert.match(
      (result as { error: string }).error,
      /503.*not found among recent posts/,
    );
    assert.equal(ctx.fakes.twitter.posts.length, 0);
  },
);

scenario(
  "an expired X token is refreshed once and the post goes out",
  async (ctx) => {
    const { lane, row, load } = await targetOn(ctx, "twitter");
    const before = (await connectionOf(ctx.user, "twitter"))!;
    ctx.fakes.twitter.accessTokens.clear();
    const result = await lane.publish(row, await load());
    assert.equal(result.outcome, "published", JSON.stringify(result));
    assert.equal(ctx.fakes.twitter.hits.refresh, 1);
    const after = (await connectionOf(ctx.user, "twitter"))!;
    assert.notEqual(after.access_token, before.access_token);
    assert.equal(after.status, "active");
  },
);

scenario(
  "a refused refresh makes the target needs_reauth and the connection too",
  async (ctx) => {
    const { lane, row, load } = await targetOn(ctx, "twitter");
    ctx.fakes.twitter.accessTokens.clear();
    ctx.fakes.twitter.refreshTokens.clear();
    const result = await lane.publish(row, await load());
    assert.equal(result.outcome, "needs_reauth");
    assert.match(
      (result as { error: string }).error,
      /token expired and twitter: .*invalid/i,
    );
    assert.equal(
      (await connectionOf(ctx.user, "twitter"))!.status,
      "needs_reauth",
    );
    assert.equal(ctx.fakes.twitter.posts.length, 0);
  },
);

scenario(
  "an expired Facebook token cannot be refreshed: needs_reauth with the reason",
  async (ctx) => {
    const { lane, row, load } = await targetOn(ctx, "facebook");
    ctx.fakes.facebook.accessTokens.clear();
    const result = await lane.publish(row, await load());
    assert.equal(result.outcome, "needs_reauth");
    assert.match((result as { error: string }).error, /connect Facebook again/);
  },
);

scenario(
  "a rate limit waits for the reset and spends no attempt",
  async (ctx) => {
    const { lane, row, load } = await targetOn(ctx, "twitter");
    ctx.fakes.twitter.failNext("publish", "rate_limited");
    const result = await lane.publish(row, await load());
    assert.equal(result.outcome, "retry");
    const retry = result as {
      retry_after_seconds: number;
      count_attempt: boolean;
    };
    assert.equal(retry.count_attempt, false);
    assert.ok(
      retry.retry_after_seconds > 890,
      String(retry.retry_after_seconds),
    );
  },
);

scenario(
  "a permanent refusal fails with the platform's message",
  async (ctx) => {
    const { lane, row, load } = await targetOn(ctx, "instagram");
    ctx.fakes.instagram.failNext("container", "rejected");
    const result = await lane.publish(row, await load());
    assert.deepEqual(result, {
      outcome: "failed",
      error: "Instagram could not process the media (ERROR): Error: Media download has failed. " +
        "The media URI doesn't meet our requirements.",
    });
  },
);

scenario(
  "a removed or switched-off connection publishes nothing",
  async (ctx) => {
    const { lane, row, load } = await targetOn(ctx, "linkedin");
    assert.deepEqual(await lane.publish(row, undefined), {
      outcome: "failed",
      error: "the social connection was removed",
    });
    const connection = (await load())!;
    assert.equal(
      (await lane.publish(row, { ...connection, status: "needs_reauth" }))
        .outcome,
      "needs_reauth",
    );
    assert.equal(ctx.fakes.linkedin.posts.length, 0);
  },
);
