// The social benchmark (scripts/bench social): N posts due at the same minute across M owners,
// each owner connected to one of the four fake platforms (X, LinkedIn, Facebook, Instagram,
// served over real HTTP by this process), moved into the queue by the cron job's SQL and
// published through the dispatch function as scripts/start serves it, with `callers` POSTs in
// flight at a time. Prints one table and its goal lines; nothing here passes or fails on time.
//
//   deno run -A --env-file=scripts/local/functions.env scripts/local/bench/social.ts \
//     [--posts 1000] [--owners 100] [--callers 2]
//   (the issue's size: --posts 10000 --owners 1000)
//
// What it measures:
//   enqueue     private.publish_due_content(): every due post to publishing, one job per target
//   publish     from the first POST /dispatch to the last target recorded as published
//   the split   the dispatchers' own time (their reports' social.db_ms and platform_ms, summed):
//               Postgres (claim, connections, complete) against the platforms (fakes over HTTP)
//   duplicates  posts on the fakes beyond one per target (must be 0)
import { parseArgs } from "node:util";
import { keyRing } from "../../../supabase/functions/_shared/crypto.ts";
import { asService, sql } from "../../../supabase/functions/_shared/db.ts";
import { type Platform, PLATFORMS } from "../../../supabase/functions/_shared/providers/config.ts";
import { serveFunctions } from "../../../supabase/functions/_testing/email.ts";
import { startFakes } from "../../../supabase/functions/_testing/fakes/server.ts";
import { sealTokens } from "../../../supabase/functions/oauth/tokens.ts";
import { localApiKey } from "../keys.ts";
import { number, percent, printGoal, printTable } from "./output.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    posts: { type: "string", default: "1000" },
    owners: { type: "string", default: "100" },
    callers: { type: "string", default: "2" },
  },
});
const posts = Number(values.posts);
const owners = Number(values.owners);
const callers = Number(values.callers);
if (!(posts > 0 && owners > 0 && owners <= posts && callers > 0)) {
  console.error("usage: scripts/bench social [--posts N] [--owners M <= N] [--callers N]");
  Deno.exit(2);
}

const seconds = (ms: number) => `${(ms / 1000).toFixed(2)} s`;
const step = (text: string) => console.error(`bench: ${text}`);

type Report = {
  social: { claimed: number; published: number; db_ms: number; platform_ms: number };
};

const fakes = await startFakes();
const functions = await serveFunctions({
  ...fakes.env,
  SUPABASE_DB_URL: Deno.env.get("SUPABASE_DB_URL")!,
  BEACON_DISPATCH_SOCIAL_CONCURRENCY: "16",
  BEACON_DISPATCH_SOCIAL_BATCH: "100",
  BEACON_DB_POOL_SIZE: String(Math.min(40, callers * 4)),
});
const userIds = Array.from({ length: owners }, () => crypto.randomUUID());

try {
  step(
    `connecting ${number(owners)} owners, one platform each, and writing ${number(posts)} posts`,
  );
  const ring = await keyRing();
  const scopes = Object.fromEntries(
    await Promise.all(PLATFORMS.map(async (platform) => {
      const [row] = await sql<{ scope: string }[]>`
        select private.social_posting_scope(${platform}) as scope`;
      return [platform, row.scope];
    })),
  ) as Record<Platform, string>;
  const connections = await Promise.all(userIds.map(async (userId, i) => {
    const platform = PLATFORMS[i % PLATFORMS.length];
    const state = fakes[platform];
    const accessToken = state.issueAccessToken({ clientId: state.clientId, scopes: [] });
    const sealed = await sealTokens(ring, userId, platform, { accessToken });
    return {
      user_id: userId,
      platform,
      platform_user_id: state.account.id,
      access_token: sealed.access_token,
      scopes: [scopes[platform]],
      accounts: JSON.stringify(platform === "facebook" ? [{ id: "page-1", name: "Page" }] : []),
    };
  }));
  await asService(async (tx) => {
    await tx`insert into auth.users (id, email)
             select id, 'bench-social-' || id || '@example.test' from unnest(${userIds}::uuid[]) as id`;
    await tx`insert into public.social_connections
               (user_id, platform, platform_user_id, access_token, scopes, accounts)
             select c.user_id, c.platform, c.platform_user_id, c.access_token,
                    array[c.scope], c.accounts::jsonb
             from jsonb_to_recordset(${
      tx.json(connections.map((c) => ({ ...c, scope: c.scopes[0] })))
    })
               as c (user_id uuid, platform text, platform_user_id text, access_token text,
                     scope text, accounts text)`;
    // Post n belongs to owner n % owners; its text is unique (X refuses a repeated text).
    await tx`insert into public.content (id, user_id, title, content_type, content, status)
             select md5('bench-social-' || n)::uuid, (${userIds}::uuid[])[1 + n % ${owners}],
                    'Bench post ' || n, 'social_post', 'Bench post number ' || n || ' is live',
                    'draft'
             from generate_series(0, ${posts - 1}) as n`;
    await tx`insert into public.social_posts (user_id, content_id, social_connection_id, account_id,
                                             media_urls)
             select c.user_id, c.id, s.id,
                    case s.platform when 'facebook' then 'page-1' end,
                    case s.platform when 'instagram' then array['https://cdn.example/bench.jpg']
                                    else '{}' end
             from public.content as c
             join public.social_connections as s on s.user_id = c.user_id
             where c.user_id = any(${userIds}::uuid[])`;
    await tx`update public.content set status = 'scheduled', scheduled_at = now()
             where user_id = any(${userIds}::uuid[])`;
  });

  step("enqueue (the cron job's SQL)");
  let t0 = performance.now();
  const [{ moved }] = await sql<{ moved: number }[]>`
    select private.publish_due_content() as moved`;
  const enqueueMs = performance.now() - t0;

  const open = async () =>
    (await sql<{ n: number }[]>`
      select count(*)::int as n from public.social_posts
      where user_id = any(${userIds}::uuid[]) and status in ('pending', 'publishing')`)[0].n;

  step(`publishing with ${callers} dispatch callers`);
  const service = await localApiKey("service_role");
  const reports: Report[] = [];
  t0 = performance.now();
  await Promise.all(Array.from({ length: callers }, async () => {
    for (;;) {
      const res = await fetch(`${functions.url}/dispatch`, {
        method: "POST",
        headers: { authorization: `Bearer ${service}`, "content-type": "application/json" },
        body: JSON.stringify({ lanes: ["social"], budget_seconds: 25 }),
      });
      if (!res.ok) throw new Error(`dispatch answered ${res.status}: ${await res.text()}`);
      const report: Report = await res.json();
      reports.push(report);
      if (report.social.claimed === 0) {
        if (await open() === 0) return;
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    }
  }));
  const publishMs = performance.now() - t0;

  const [{ published }] = await sql<{ published: number }[]>`
    select count(*)::int as published from public.social_posts
    where user_id = any(${userIds}::uuid[]) and status = 'published'`;
  const onFakes = PLATFORMS.flatMap((platform) => fakes[platform].posts);
  const distinct = new Set(onFakes.map((post) => `${post.author}\n${post.text}`)).size;
  const duplicates = onFakes.length - distinct;
  const db = reports.reduce((sum, r) => sum + r.social.db_ms, 0);
  const platform = reports.reduce((sum, r) => sum + r.social.platform_ms, 0);

  printTable(["step", "time", "rate / detail"], [
    [
      "enqueue (due content → publishing, one job each)",
      seconds(enqueueMs),
      `${number(moved)} posts, ${number(moved / (enqueueMs / 1000))} posts/s`,
    ],
    [
      "publish, end to end (HTTP → fake platforms)",
      seconds(publishMs),
      `${number(published / (publishMs / 1000))} posts/s`,
    ],
    ["  Postgres: claim, connections, complete", percent(db, db + platform), seconds(db)],
    [
      "  platforms (fakes over HTTP), refreshes",
      percent(platform, db + platform),
      seconds(platform),
    ],
    ["published / posts", `${number(published)} / ${number(posts)}`, `${number(owners)} owners`],
    ["posts on the fakes / duplicates", `${number(onFakes.length)} / ${number(duplicates)}`, ""],
  ]);
  printGoal("social_published", published, ">=", posts, { digits: 0 });
  printGoal("social_duplicates", duplicates, "<=", 0, { digits: 0 });
} finally {
  await asService((tx) => tx`delete from auth.users where id = any(${userIds}::uuid[])`);
  await functions.stop();
  await fakes.close();
  await sql.end();
}
