// Scheduled social content published end to end: the owner writes targets and schedules, the
// cron job's SQL queues one job per target, the dispatcher's social lane publishes through the
// fake platforms over real HTTP and reports the batch; each target and the content end up
// published exactly once, also with two dispatchers at once and a post accepted then timed out
// (and never taken for an identical older post); rate limits wait for each platform's reset;
// a LinkedIn page the member administers is connected and posted as.
import assert from "node:assert/strict";
import { asService, asUser, type UserClaims } from "../_shared/db.ts";
import type { Platform } from "../_shared/providers/config.ts";
import { authorOn, type Fakes } from "../_testing/fakes/server.ts";
import { connect, connectionOf, scenarios, type TestApp, testEnv } from "../_testing/oauth.ts";
import { createDispatcher } from "./dispatcher.ts";
import { readDispatchSettings } from "./settings.ts";

const scenario = scenarios("publish-queue");
const PLATFORMS: Platform[] = ["twitter", "linkedin", "facebook", "instagram"];

function dispatcherFor(fakes: Fakes) {
  for (const platform of PLATFORMS) fakes[platform].hangMs = 2500;
  return createDispatcher(readDispatchSettings({
    ...Deno.env.toObject(),
    ...testEnv(fakes),
    BEACON_SOCIAL_TIMEOUT_SECONDS: "1",
  }));
}

/** Connects the user everywhere and schedules `count` posts to every connection, due now. */
async function schedule(
  app: TestApp,
  user: UserClaims,
  count: number,
): Promise<string[]> {
  for (const platform of PLATFORMS) await connect(app, user, platform);
  const ids = await asUser(user, async (tx) => {
    const rows = await tx<{ id: string }[]>`
      insert into public.content (title, content_type, content, status)
      select 'Post ' || n, 'social_post', 'Queued post ' || n || ' ' || gen_random_uuid(), 'draft'
      from generate_series(1, ${count}) as n
      returning id`;
    const ids = rows.map((r) => r.id);
    await tx`
      insert into public.social_posts (content_id, social_connection_id, account_id, media_urls)
      select c.id, s.id,
             case s.platform when 'facebook' then 'page-1' end,
             case s.platform when 'instagram' then array['https://cdn.example/a.jpg'] else '{}' end
      from unnest(${ids}::uuid[]) as c (id)
      cross join public.social_connections as s`;
    await tx`update public.content set status = 'scheduled', scheduled_at = now()
             where id = any(${ids}::uuid[])`;
    return ids;
  });
  await asService((tx) => tx`select private.publish_due_content_batch(${user.sub}, 1000)`);
  return ids;
}

type Target = {
  platform: string;
  status: string;
  platform_post_id: string | null;
  url: string | null;
};

const targetsOf = (user: UserClaims) =>
  asService((tx) =>
    tx<Target[]>`
      select s.platform, t.status, t.platform_post_id, t.url
      from public.social_posts as t
      join public.social_connections as s on s.id = t.social_connection_id
      where t.user_id = ${user.sub}
      order by s.platform`
  );

const contentStatus = async (ids: string[]) =>
  (await asService((tx) =>
    tx<
      { status: string }[]
    >`select status from public.content where id = any(${ids}::uuid[])`
  )).map((r) => r.status);

scenario(
  "scheduled content is published on each platform, with ids and URLs",
  async (ctx) => {
    const ids = await schedule(ctx.app, ctx.user, 1);
    const report = await dispatcherFor(ctx.fakes).run({ lanes: ["social"] });
    assert.ok(report.social.published >= 4, JSON.stringify(report.social));
    const targets = await targetsOf(ctx.user);
    assert.deepEqual(targets.map((t) => [t.platform, t.status]), [
      ["facebook", "published"],
      ["instagram", "published"],
      ["linkedin", "published"],
      ["twitter", "published"],
    ]);
    for (const t of targets) {
      assert.ok(t.platform_post_id, t.platform);
      assert.match(t.url ?? "", /^https:\/\//, t.platform);
    }
    for (const platform of PLATFORMS) {
      assert.equal(
        ctx.fakes[platform].posts.length,
        1,
      );
    }
    assert.deepEqual(await contentStatus(ids), ["published"]);
  },
);

scenario(
  "a permanent refusal fails its target alone; the content fails with detail",
  async (ctx) => {
    const ids = await schedule(ctx.app, ctx.user, 1);
    ctx.fakes.linkedin.failNext("publish", "rejected");
    await dispatcherFor(ctx.fakes).run({ lanes: ["social"] });
    const targets = await targetsOf(ctx.user);
    assert.deepEqual(targets.map((t) => t.status), [
      "published",
      "published",
      "failed",
      "published",
    ]);
    const [row] = await asService((tx) =>
      tx<{ error: string }[]>`select error from public.social_posts
                            where user_id = ${ctx.user.sub} and status = 'failed'`
    );
    assert.match(row.error, /LinkedIn answered 422: Content is a duplicate/);
    assert.deepEqual(await contentStatus(ids), ["failed"]);
  },
);

scenario(
  "a refused refresh: the target fails needing reauthorisation, the connection too",
  async (ctx) => {
    await schedule(ctx.app, ctx.user, 1);
    ctx.fakes.twitter.accessTokens.clear();
    ctx.fakes.twitter.refreshTokens.clear();
    const report = await dispatcherFor(ctx.fakes).run({ lanes: ["social"] });
    assert.equal(report.social.needs_reauth, 1);
    const [connection] = await asService((tx) =>
      tx<{ status: string }[]>`select status from public.social_connections
                             where user_id = ${ctx.user.sub} and platform = 'twitter'`
    );
    assert.equal(connection.status, "needs_reauth");
    const x = (await targetsOf(ctx.user)).find((t) => t.platform === "twitter")!;
    assert.equal(x.status, "failed");
  },
);

/** The publishing job of the user's target on `platform`, and its wait in seconds from now. */
const jobOn = async (user: UserClaims, platform: Platform) =>
  (await asService((tx) =>
    tx<{ attempts: number; status: string; wait: number; target: string }[]>`
      select j.attempts, j.status, extract(epoch from j.run_after - now())::int as wait,
             t.status as target
      from private.jobs as j
      join public.social_posts as t on t.id = j.subject_id
      join public.social_connections as s on s.id = t.social_connection_id
      where j.kind = 'social_publish' and t.user_id = ${user.sub} and s.platform = ${platform}`
  ))[0];

/** Seconds until the platform lets us post again, as its fake's rate-limit answer says. */
const RESETS: Record<Platform, (fakes: Fakes) => number> = {
  // x-rate-limit-reset: 900 s ahead.
  twitter: () => 900,
  // X-Business-Use-Case-Usage's estimated_time_to_regain_access, in minutes.
  facebook: (fakes) => fakes.facebook.regainAccessMinutes * 60,
  instagram: (fakes) => fakes.instagram.regainAccessMinutes * 60,
  // No Retry-After: LinkedIn's daily quota resets at midnight UTC.
  linkedin: () => {
    const midnight = new Date();
    midnight.setUTCHours(24, 0, 0, 0);
    return Math.round((midnight.getTime() - Date.now()) / 1000);
  },
};

for (const platform of PLATFORMS) {
  scenario(
    `${platform}: a rate limit puts the target back until the platform's reset, no attempt spent`,
    async (ctx) => {
      await schedule(ctx.app, ctx.user, 1);
      // Distinct from the fake's default and from the untimed fallback (5 minutes).
      ctx.fakes.instagram.regainAccessMinutes = 11;
      ctx.fakes[platform].failNext("publish", "rate_limited");
      const report = await dispatcherFor(ctx.fakes).run({ lanes: ["social"] });
      assert.equal(report.social.retried, 1, JSON.stringify(report.social));
      assert.equal(report.social.published, 3, JSON.stringify(report.social));
      const job = await jobOn(ctx.user, platform);
      assert.deepEqual([job.status, job.attempts, job.target], ["ready", 0, "publishing"]);
      const expected = RESETS[platform](ctx.fakes);
      assert.ok(Math.abs(job.wait - expected) <= 5, `waits ${job.wait} s, not ${expected} s`);
      assert.equal(ctx.fakes[platform].posts.length, 0);
    },
  );
}

scenario(
  "accepted then timed out ends published with one post on the platform",
  async (ctx) => {
    const ids = await schedule(ctx.app, ctx.user, 1);
    for (const platform of PLATFORMS) {
      ctx.fakes[platform].failNext(
        "publish",
        "accept_then_timeout",
      );
    }
    await dispatcherFor(ctx.fakes).run({ lanes: ["social"] });
    assert.deepEqual(
      (await targetsOf(ctx.user)).map((t) => t.status),
      Array(4).fill("published"),
    );
    for (const platform of PLATFORMS) {
      assert.equal(
        ctx.fakes[platform].posts.length,
        1,
        platform,
      );
    }
    assert.deepEqual(await contentStatus(ids), ["published"]);
  },
);

/** Each platform already holds the content's text, posted by the same account two days ago. */
async function olderIdenticalPosts(fakes: Fakes, contentId: string) {
  const [{ content }] = await asService((tx) =>
    tx<{ content: string }[]>`select content from public.content where id = ${contentId}`
  );
  for (const platform of PLATFORMS) {
    fakes[platform].post(authorOn(fakes, platform), content).createdAt = Date.now() - 2 * 86400_000;
  }
}

/** Each target is published as the fake's second post (the new one), not the older one. */
async function publishedAsNewPosts(ctx: { fakes: Fakes; user: UserClaims }) {
  const targets = await targetsOf(ctx.user);
  for (const platform of PLATFORMS) {
    const posts = ctx.fakes[platform].posts;
    assert.equal(posts.length, 2, `${platform}: the older post and one new one`);
    const target = targets.find((t) => t.platform === platform)!;
    assert.equal(target.status, "published", platform);
    // The ids end in the fakes' post numbers, which differ in their last digit.
    assert.ok(
      target.platform_post_id!.endsWith(posts[1].id),
      `${platform}: ${target.platform_post_id}`,
    );
  }
}

scenario(
  "accepted then timed out beside an identical older post: one new post, the target points at it",
  async (ctx) => {
    const [id] = await schedule(ctx.app, ctx.user, 1);
    await olderIdenticalPosts(ctx.fakes, id);
    for (const platform of PLATFORMS) {
      ctx.fakes[platform].failNext("publish", "accept_then_timeout");
    }
    const report = await dispatcherFor(ctx.fakes).run({ lanes: ["social"] });
    assert.equal(report.social.reconciled, 4, JSON.stringify(report.social));
    await publishedAsNewPosts(ctx);
    assert.deepEqual(await contentStatus([id]), ["published"]);
  },
);

scenario(
  "a 5xx beside an identical older post: not taken for ours, posted on the next try",
  async (ctx) => {
    const [id] = await schedule(ctx.app, ctx.user, 1);
    await olderIdenticalPosts(ctx.fakes, id);
    // 5xx before anything was stored: the post may exist, so it is looked up; only the older
    // one is there, which is not ours.
    for (const platform of PLATFORMS) ctx.fakes[platform].failNext("publish", "server_error");
    const dispatcher = dispatcherFor(ctx.fakes);
    const first = await dispatcher.run({ lanes: ["social"] });
    assert.deepEqual([first.social.retried, first.social.published], [4, 0]);
    for (const platform of PLATFORMS) assert.equal(ctx.fakes[platform].posts.length, 1);
    await asService((tx) =>
      tx`update private.jobs set run_after = now()
         where kind = 'social_publish' and user_id = ${ctx.user.sub}`
    );
    const second = await dispatcher.run({ lanes: ["social"] });
    assert.deepEqual([second.social.published, second.social.reconciled], [4, 0]);
    await publishedAsNewPosts(ctx);
  },
);

scenario(
  "a LinkedIn page: connecting lists the pages the member administers; a target posts as one",
  async (ctx) => {
    ctx.fakes.setLinkedinOrganizations([
      { id: 2414183, name: "Beacon Labs", role: "ADMINISTRATOR" },
      { id: 5550001, name: "Watched Co", role: "ANALYST" },
    ]);
    await connect(ctx.app, ctx.user, "linkedin");
    const connection = (await connectionOf(ctx.user, "linkedin"))!;
    // Only the page the member administers, by its URN, in the shape of Facebook's pages.
    assert.deepEqual(connection.accounts, [{
      id: "urn:li:organization:2414183",
      name: "Beacon Labs",
    }]);

    const [content] = await asUser(ctx.user, async (tx) => {
      const rows = await tx<{ id: string }[]>`
        insert into public.content (title, content_type, content, status)
        values ('Page post', 'social_post', 'Beacon Labs is hiring', 'draft') returning id`;
      await tx`insert into public.social_posts (content_id, social_connection_id, account_id)
               values (${rows[0].id}, ${connection.id}, ${connection.accounts[0].id})`;
      await tx`update public.content set status = 'scheduled', scheduled_at = now()
               where id = ${rows[0].id}`;
      return rows;
    });
    await asService((tx) => tx`select private.publish_due_content_batch(${ctx.user.sub}, 1000)`);
    const report = await dispatcherFor(ctx.fakes).run({ lanes: ["social"] });
    assert.equal(report.social.published, 1, JSON.stringify(report.social));

    const posts = ctx.fakes.linkedin.posts;
    assert.deepEqual(posts.map((p) => [p.author, p.text]), [
      ["urn:li:organization:2414183", "Beacon Labs is hiring"],
    ]);
    const [target] = await targetsOf(ctx.user);
    assert.equal(target.status, "published");
    assert.equal(target.platform_post_id, `urn:li:share:${posts[0].id}`);
    assert.deepEqual(await contentStatus([content.id]), ["published"]);
  },
);

scenario("two dispatchers at once publish each target once", async (ctx) => {
  const ids = await schedule(ctx.app, ctx.user, 10);
  const dispatcher = dispatcherFor(ctx.fakes);
  const [a, b] = await Promise.all([
    dispatcher.run({ lanes: ["social"] }),
    dispatcher.run({ lanes: ["social"] }),
  ]);
  assert.ok(a.social.claimed > 0 || b.social.claimed > 0);
  for (const platform of PLATFORMS) {
    const texts = ctx.fakes[platform].posts.map((post) => post.text);
    assert.equal(texts.length, 10, platform);
    assert.equal(new Set(texts).size, 10, platform);
  }
  assert.deepEqual(await contentStatus(ids), Array(10).fill("published"));
});

scenario(
  "the metrics lane reads each published post's counts into social_posts.metrics",
  async (ctx) => {
    await schedule(ctx.app, ctx.user, 1);
    const dispatcher = dispatcherFor(ctx.fakes);
    await dispatcher.run({ lanes: ["social"] });
    const report = await dispatcher.run({ lanes: ["metrics"] });
    assert.ok(report.metrics.recorded >= 4, JSON.stringify(report.metrics));
    const rows = await asService((tx) =>
      tx<{ platform: string; metrics: Record<string, number> }[]>`
      select s.platform, t.metrics
      from public.social_posts as t
      join public.social_connections as s on s.id = t.social_connection_id
      where t.user_id = ${ctx.user.sub}
      order by s.platform`
    );
    assert.deepEqual([...rows], [
      { platform: "facebook", metrics: { likes: 3, replies: 1, reposts: 2 } },
      { platform: "instagram", metrics: { likes: 3, replies: 1 } },
      { platform: "linkedin", metrics: { likes: 3, replies: 1 } },
      {
        platform: "twitter",
        metrics: { likes: 3, replies: 1, reposts: 2, impressions: 40 },
      },
    ]);
  },
);
