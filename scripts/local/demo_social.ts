// The social demo of scripts/start: connects the demo user to the four fake platforms through
// the real OAuth flow over HTTP (start → /go → the fake's consent → callback, with a cookie jar
// like a browser's), then publishes the demo's "Launch day post" to them through the queue and
// the dispatcher, and prints where each target went.
//
//   deno run -A --env-file=scripts/local/functions.env scripts/local/demo_social.ts \
//     <functions url> <demo user JWT>
import { asService, asUser, sql } from "../../supabase/functions/_shared/db.ts";
import { PLATFORMS } from "../../supabase/functions/_shared/providers/config.ts";

const [functionsUrl, jwt] = Deno.args;
if (!functionsUrl || !jwt) {
  console.error("usage: demo_social.ts <functions url> <demo user JWT>");
  Deno.exit(2);
}
const APP = "http://localhost:3000/";
const DEMO_ID = "de000000-0000-4000-8000-000000000001";
const LAUNCH_POST = "c0000000-0000-4000-8000-000000000002";
/** Instagram posts need an image; the fake takes the URL as Instagram would. */
const LAUNCH_IMAGE = "https://picsum.photos/id/1/1080/1080.jpg";

/** Follows redirects by hand, keeping cookies, until the browser lands back on the app. */
async function connect(platform: string): Promise<void> {
  const started = await fetch(`${functionsUrl}/oauth/${platform}/start`, {
    method: "POST",
    headers: { authorization: `Bearer ${jwt}`, "content-type": "application/json" },
    body: JSON.stringify({ redirect_to: APP }),
  });
  const body = await started.json();
  if (!started.ok) {
    throw new Error(`${platform}: start answered ${started.status}: ${body.message}`);
  }
  const cookies = new Map<string, string>();
  let url: string = body.url;
  for (let hop = 0; hop < 5 && !url.startsWith(APP); hop++) {
    const res = await fetch(url, {
      redirect: "manual",
      headers: { cookie: [...cookies].map(([k, v]) => `${k}=${v}`).join("; ") },
    });
    await res.body?.cancel();
    for (const line of res.headers.getSetCookie()) {
      const [pair] = line.split(";");
      cookies.set(pair.slice(0, pair.indexOf("=")), pair.slice(pair.indexOf("=") + 1));
    }
    const next = res.headers.get("location");
    if (!next) throw new Error(`${platform}: ${url} answered ${res.status} without a redirect`);
    url = new URL(next, url).href;
  }
  const error = new URL(url).searchParams.get("error");
  if (error) throw new Error(`${platform}: the connection came back with error=${error}`);
}

type Target = {
  platform: string;
  status: string;
  platform_post_id: string | null;
  url: string | null;
  error: string | null;
};

/** The launch post's targets, one per connection, as the app would write them; then scheduled. */
async function scheduleLaunchPost(): Promise<boolean> {
  const demo = { sub: DEMO_ID, role: "authenticated" as const };
  return await asUser(demo, async (tx) => {
    const [content] = await tx<{ status: string }[]>`
      select status from public.content where id = ${LAUNCH_POST}`;
    if (content?.status !== "draft") return false;
    await tx`
      insert into public.social_posts (content_id, social_connection_id, account_id, media_urls)
      select ${LAUNCH_POST}, c.id,
             case c.platform when 'facebook' then (c.accounts -> 0 ->> 'id') end,
             case c.platform when 'instagram' then array[${LAUNCH_IMAGE}] else '{}' end
      from public.social_connections as c
      on conflict do nothing`;
    await tx`
      update public.content set status = 'scheduled', scheduled_at = now()
      where id = ${LAUNCH_POST}`;
    return true;
  });
}

async function dispatch(): Promise<void> {
  const res = await fetch(`${functionsUrl}/dispatch`, {
    method: "POST",
    headers: {
      authorization: `Bearer ${Deno.env.get("SUPABASE_SERVICE_ROLE_KEY")}`,
      "content-type": "application/json",
    },
    body: JSON.stringify({ lanes: ["social"] }),
  });
  await res.body?.cancel();
}

const targets = () =>
  asService((tx) =>
    tx<Target[]>`
      select c.platform, t.status, t.platform_post_id, t.url, t.error
      from public.social_posts as t
      join public.social_connections as c on c.id = t.social_connection_id
      where t.content_id = ${LAUNCH_POST}
      order by c.platform`
  );

try {
  for (const platform of PLATFORMS) await connect(platform);
  if (await scheduleLaunchPost()) {
    // What pg_cron's minute job does; the dispatcher loop would publish it within seconds too.
    await asService((tx) => tx`select private.publish_due_content_batch(${DEMO_ID}, 10)`);
  }
  for (let second = 0; second < 30; second++) {
    if (!(await targets()).some((t) => t.status === "pending" || t.status === "publishing")) break;
    await dispatch();
    await new Promise((resolve) => setTimeout(resolve, 1000));
  }
  const [title] = await asService((tx) =>
    tx<{ title: string; status: string }[]>`
      select title, status from public.content where id = ${LAUNCH_POST}`
  );
  console.log(
    `     Demo social: "${title.title}" is ${title.status}, connected to the four fakes:`,
  );
  for (const t of await targets()) {
    const where = t.status === "published"
      ? `${t.platform_post_id}  ${t.url ?? ""}`
      : `${t.status}${t.error ? `: ${t.error}` : ""}`;
    console.log(`                  ${t.platform.padEnd(9)} ${where}`);
  }
} finally {
  await sql.end();
}
