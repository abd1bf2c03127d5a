// Dispatchers claiming social targets at the same instant, each on its own connection (pgTAP
// runs in one session and cannot show this): private.claim_social_posts never hands one target
// to two of them, and once each reports its targets published every post is published once.
import assert from "node:assert/strict";
import postgres from "postgres";
import { asService } from "../functions/_shared/db.ts";
import { createUser, dbTest, deleteUsers } from "../functions/_testing/harness.ts";

const OWNERS = 5;
const POSTS_PER_OWNER = 20;
const WORKERS = 4;

type Claimed = { job_id: string; social_post_id: string; user_id: string };

function workerConnection() {
  return postgres(Deno.env.get("SUPABASE_DB_URL")!, { max: 1, prepare: false, onnotice: () => {} });
}

dbTest("social: concurrent dispatchers claim disjoint targets and publish each once", async () => {
  const owners = await Promise.all(
    Array.from({ length: OWNERS }, (_, i) => createUser(`social-${i}`)),
  );
  const ids = owners.map((o) => o.sub);
  const workers = Array.from({ length: WORKERS }, workerConnection);
  try {
    await asService(async (tx) => {
      await tx`
        insert into public.social_connections (user_id, platform, platform_user_id, access_token, scopes)
        select u, p, p || '-' || u, 'v1:ciphertext', array[case p when 'twitter' then 'tweet.write' else 'w_member_social' end]
        from unnest(${ids}::uuid[]) as u cross join unnest(array['twitter', 'linkedin']) as p`;
      await tx`
        insert into public.content (user_id, title, content_type, content, scheduled_at)
        select u, 'Post ' || g, 'social_post', 'Hello ' || g, now() + interval '1 hour'
        from unnest(${ids}::uuid[]) as u cross join generate_series(1, ${POSTS_PER_OWNER}) as g`;
      await tx`
        insert into public.social_posts (user_id, content_id, social_connection_id)
        select c.user_id, c.id, sc.id
        from public.content as c join public.social_connections as sc on sc.user_id = c.user_id
        where c.user_id = any(${ids}::uuid[])`;
      await tx`update public.content set status = 'scheduled' where user_id = any(${ids}::uuid[])`;
      await tx`update public.content set scheduled_at = now() - interval '1 minute' where user_id = any(${ids}::uuid[])`;
    });
    // Run twice at once, as two cron runs would: the second finds nothing left to move.
    await Promise.all(workers.slice(0, 2).map((sql) => sql`select private.publish_due_content()`));

    const holder = new Map<string, number>();
    for (let round = 0; round < 100; round++) {
      const batches = await Promise.all(workers.map((sql, n) =>
        sql.begin(async (tx) => {
          const rows = await tx<Claimed[]>`
            select job_id, social_post_id, user_id from private.claim_social_posts(${3 + n})
            where user_id = any(${ids}::uuid[])`;
          for (const row of rows) {
            assert.equal(
              holder.get(row.social_post_id),
              undefined,
              `target ${row.social_post_id} claimed twice`,
            );
            holder.set(row.social_post_id, n);
          }
          const results = rows.map((row) => ({
            job_id: Number(row.job_id),
            outcome: "published",
            platform_post_id: `post-${row.social_post_id}`,
          }));
          const [{ applied }] = await tx`
            select private.complete_social_posts(${tx.json(results)}) as applied`;
          assert.equal(applied, rows.length);
          return rows.length;
        })
      ));
      if (batches.every((n) => n === 0)) break;
    }

    const targets = OWNERS * POSTS_PER_OWNER * 2;
    assert.equal(holder.size, targets, "every target was claimed");
    const [state] = await asService((tx) =>
      tx`select
           (select count(*)::int from public.social_posts
            where user_id = any(${ids}::uuid[]) and status = 'published') as published,
           (select count(*)::int from public.content
            where user_id = any(${ids}::uuid[]) and status = 'published') as posts,
           (select count(*)::int from public.analytics_events
            where user_id = any(${ids}::uuid[]) and event_name = 'social_published') as events`
    );
    assert.deepEqual(state, {
      published: targets,
      posts: OWNERS * POSTS_PER_OWNER,
      events: targets,
    });
  } finally {
    await Promise.all(workers.map((sql) => sql.end()));
    await deleteUsers(...owners);
  }
});
