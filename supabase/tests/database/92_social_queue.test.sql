-- Publishing on the generic queue (migration social_publish_queue): due content moves on
-- set-based (social posts to publishing with one social_publish job per target, the rest to
-- published), safe to run twice; a poisoned owner's content fails alone with its reason; two
-- claimers get disjoint targets; retry, lease expiry and a lost lease's late report; each
-- outcome settles the target and the content, with a social_published event. A run moves a
-- minute's posts in batches until none is due (or its time is up); one report settles many posts.
-- A round's first claim records when its first attempt started (first_attempt_at), which its
-- retries keep, so reconciliation only takes posts the platform created since.
begin;
\ir _helpers.psql

select plan(43);

do $$
begin
  perform tests.create_user('alice');
  perform tests.create_user('bob');
  perform tests.create_user('mallory');
end;
$$;

create function tests.connect(owner text, platform text, scope text)
returns uuid
language sql
as $$
  insert into public.social_connections (user_id, platform, platform_user_id, access_token, scopes, accounts)
  values (tests.get_user_id(owner), platform, platform || '-' || owner, 'v1:ciphertext', array[scope],
          '[{"id": "page-1", "name": "Page"}]')
  returning id
$$;

-- A scheduled social post of `owner` to each of `platforms`, due a minute ago.
create function tests.due_post(owner text, platforms text[], body text default 'Spring is here')
returns uuid
language plpgsql
as $$
declare
  made uuid;
begin
  made := tests.insert_row('content', owner, jsonb_build_object(
    'content_type', 'social_post', 'content', body, 'title', 'Post of ' || owner,
    'scheduled_at', now() + interval '1 hour'));
  insert into public.social_posts (user_id, content_id, social_connection_id, account_id)
  select sc.user_id, made, sc.id, case when sc.platform = 'facebook' then 'page-1' end
  from public.social_connections as sc
  where sc.user_id = tests.get_user_id(owner) and sc.platform = any(platforms)
  order by array_position(platforms, sc.platform);
  update public.content set status = 'scheduled' where id = made;
  -- Due now: moved back past the check that runs at scheduling only.
  update public.content set scheduled_at = now() - interval '1 minute' where id = made;
  return made;
end;
$$;

select tests.connect('alice', 'twitter', 'tweet.write');
select tests.connect('alice', 'linkedin', 'w_member_social');
select tests.connect('bob', 'facebook', 'pages_manage_posts');
select tests.connect('mallory', 'twitter', 'tweet.write');

create table tests.posts as
select tests.due_post('alice', '{twitter,linkedin}') as alice_post,
       tests.due_post('bob', '{facebook}') as bob_post,
       tests.insert_row('content', 'bob', jsonb_build_object('status', 'scheduled',
         'scheduled_at', now() - interval '1 minute')) as bob_blog,
       tests.insert_row('content', 'alice', jsonb_build_object('content_type', 'social_post',
         'status', 'draft')) as alice_draft;

-- Moving due content ------------------------------------------------------------------------
select is(private.publish_due_content(), 3, 'publish_due_content moves the three due items');
select is(
  (select array_agg(c.status order by c.title) from public.content as c where c.id in (select alice_post from tests.posts union all select bob_post from tests.posts union all select bob_blog from tests.posts)),
  array['published', 'publishing', 'publishing'],
  'social posts are publishing, the blog post is published at its time'
);
select isnt((select published_at from public.content where id = (select bob_blog from tests.posts)), null,
  '... with published_at');
select is((select count(*)::int from private.jobs where kind = 'social_publish'), 3, 'one job per target');
select is((select count(*)::int from public.social_posts where status = 'publishing'), 3, 'every target is publishing');
select is(private.publish_due_content(), 0, 'a second run moves nothing');
select is((select count(*)::int from private.jobs where kind = 'social_publish'), 3, '... and enqueues nothing more');
select is((select status from public.content where id = (select alice_draft from tests.posts)), 'draft',
  'drafts are left alone');

-- Two claimers, disjoint ----------------------------------------------------------------------
create table tests.first_claim as select * from private.claim_social_posts(2);
create table tests.second_claim as select * from private.claim_social_posts(10);
select is((select count(*)::int from tests.first_claim), 2, 'the first claimer gets two targets');
select is((select count(*)::int from tests.second_claim), 1, 'the second gets the third');
select is(
  (select count(*)::int from tests.first_claim as a join tests.second_claim as b using (social_post_id)),
  0,
  'no target is claimed twice'
);
select is(
  (select count(distinct user_id)::int from tests.first_claim), 2,
  'fair across owners: the first two are alice''s and bob''s'
);
select is(
  (select text || '|' || platform || '|' || coalesce(account_id, '-') || '|' || attempts
   from (select * from tests.first_claim union all select * from tests.second_claim) as c
   where platform = 'facebook'),
  'Spring is here|facebook|page-1|1',
  'a claim carries the text (the content''s), platform, account and attempt'
);
select ok(
  (select bool_and(c.social_connection_id = t.social_connection_id
                   and c.first_attempt_at = now() and t.first_attempt_at = now())
   from (select * from tests.first_claim union all select * from tests.second_claim) as c
   join public.social_posts as t on t.id = c.social_post_id),
  '... and the target''s connection, and when its first attempt started, recorded on the target'
);
select is((select count(*)::int from private.claim_social_posts(10)), 0, 'leased targets are not claimed again');

-- Outcomes -------------------------------------------------------------------------------------
create table tests.claimed as
select * from tests.first_claim union all select * from tests.second_claim;

select throws_ok(
  $$select private.complete_social_posts('[{"job_id": 1, "outcome": "posted"}]')$$,
  '22023', 'complete_social_posts: p_results[0].outcome: must be published, retry, failed or needs_reauth',
  'a bad result is refused with its path'
);
select throws_ok(
  $$select private.complete_social_posts('[{"job_id": 1, "outcome": "published"}]')$$,
  '22023', 'complete_social_posts: p_results[0].platform_post_id: a published target needs the platform''s post id (1 to 200 characters)',
  '... and a published one needs the post id'
);

select is(
  private.complete_social_posts((select jsonb_agg(jsonb_build_object(
    'job_id', job_id, 'outcome', case platform when 'twitter' then 'published' when 'linkedin' then 'retry' else 'failed' end,
    'platform_post_id', '1850000000000000001', 'url', 'https://x.example/i/status/1850000000000000001',
    'error', case platform when 'linkedin' then 'HTTP 503' else 'Facebook: (#200) Permissions error' end,
    'retry_after_seconds', 0)) from tests.claimed)),
  3,
  'three results apply'
);
select is(
  (select array_agg(t.status || coalesce(':' || t.platform_post_id, '') order by sc.platform)
   from public.social_posts as t join public.social_connections as sc on sc.id = t.social_connection_id),
  array['failed', 'publishing', 'published:1850000000000000001'],
  'facebook failed, linkedin is retried, twitter published with its id'
);
select is((select error from public.social_posts as t join public.social_connections as sc on sc.id = t.social_connection_id where sc.platform = 'facebook'),
  'Facebook: (#200) Permissions error', 'a failed target keeps the platform''s message');
select is((select status || ':' || coalesce(publish_error, '') from public.content where id = (select bob_post from tests.posts)),
  'failed:1 of 1 targets failed; each one''s reason is in social_posts.error',
  'bob''s post, whose only target failed, is failed');
select is((select status from public.content where id = (select alice_post from tests.posts)), 'publishing',
  'alice''s is still publishing: one target is retried');
select is(
  (select count(*)::int from public.analytics_events
   where event_type = 'social' and event_name = 'social_published' and properties ->> 'platform' = 'twitter'),
  1,
  'the published target is an analytics event'
);
select is(
  private.complete_social_posts((select jsonb_agg(jsonb_build_object('job_id', job_id, 'outcome', 'failed', 'error', 'late'))
    from tests.claimed where platform = 'twitter')),
  0,
  'a second report on a finished job is ignored'
);

-- Retry and lease expiry -------------------------------------------------------------------------
-- (now() is the transaction's: the first attempt is moved back to tell the two apart.)
update public.social_posts set first_attempt_at = '2026-01-02 03:04:05+00' where status = 'publishing';
create table tests.retry_claim as select * from private.claim_social_posts(10);
select is((select platform || ':' || attempts from tests.retry_claim), 'linkedin:2',
  'the retried target is claimed again, on its second attempt');
select is((select first_attempt_at from tests.retry_claim), '2026-01-02 03:04:05+00'::timestamptz,
  '... and keeps the time of its first attempt');
-- Its lease runs out (the worker died): another claimer takes it over.
update private.jobs set lease_until = now() - interval '1 second'
where id = (select job_id from tests.retry_claim);
create table tests.takeover as select * from private.claim_social_posts(10);
select is((select platform || ':' || attempts || ':' || (first_attempt_at = '2026-01-02 03:04:05+00') from tests.takeover),
  'linkedin:3:true', 'an expired lease is claimed again, the first attempt''s time kept');
select is(
  private.complete_social_posts((select jsonb_agg(jsonb_build_object('job_id', job_id, 'outcome', 'published',
    'platform_post_id', 'urn:li:share:7', 'url', 'https://www.linkedin.com/feed/update/urn:li:share:7'))
    from tests.takeover)),
  1,
  'the new holder publishes it'
);
select is((select status || ':' || (published_at is not null) from public.content where id = (select alice_post from tests.posts)),
  'published:true',
  'alice''s post is published once every target is'
);

-- needs_reauth -------------------------------------------------------------------------------------
create table tests.mallory_post as select tests.due_post('mallory', '{twitter}') as id;
select private.publish_due_content();
-- A rate-limited first attempt gives its attempt back: it posted nothing, and the round's first
-- attempt is the next one.
select is(
  private.complete_social_posts((select jsonb_agg(jsonb_build_object('job_id', job_id, 'outcome', 'retry',
    'error', 'X answered 429', 'retry_after_seconds', 0, 'count_attempt', false)) from private.claim_social_posts(10))),
  1,
  'a rate limit on the first attempt is reported'
);
update public.social_posts set first_attempt_at = '2026-01-02 03:04:05+00'
where content_id = (select id from tests.mallory_post);
create table tests.mallory_claim as select * from private.claim_social_posts(10);
select is((select attempts || ':' || (first_attempt_at = now()) from tests.mallory_claim), '1:true',
  '... and the next claim is the first attempt again, timed anew');
select is(
  private.complete_social_posts((select jsonb_agg(jsonb_build_object('job_id', job_id, 'outcome', 'needs_reauth',
    'error', 'X refused the refresh token: invalid_grant')) from tests.mallory_claim)),
  1,
  'a refused refresh is reported'
);
select is(
  (select t.status || '|' || sc.status || '|' || sc.last_error from public.social_posts as t
   join public.social_connections as sc on sc.id = t.social_connection_id where t.content_id = (select id from tests.mallory_post)),
  'failed|needs_reauth|X refused the refresh token: invalid_grant',
  'the target fails and the connection needs the user again, with the reason'
);

-- A minute's posts in one run, settled together ------------------------------------------------
create table tests.many as
select tests.due_post(o.owner, o.platforms, 'Many ' || n) as id, n
from generate_series(1, 5) as n
cross join lateral (select case n % 2 when 0 then 'alice' else 'bob' end as owner) as w
cross join lateral (select w.owner, case w.owner when 'bob' then '{facebook}' else '{linkedin}' end::text[] as platforms) as o;
select is(private.publish_due_content(2), 5, 'one run moves every due item, two at a time');
select is((select count(*)::int from private.jobs where kind = 'social_publish'
           and (payload ->> 'content_id')::uuid in (select id from tests.many)), 5, '... with one job per target');
create table tests.later as
select tests.due_post('alice', '{twitter}', 'Later ' || n) as id from generate_series(1, 3) as n;
select is(private.publish_due_content(2, 0), 2, 'out of time, a run stops after its first batch');
select is(private.publish_due_content(2, 0), 1, '... and the next run moves the rest');
create table tests.many_claimed as
select c.* from private.claim_social_posts(100) as c where c.content_id in (select id from tests.many);
select is(
  private.complete_social_posts((select jsonb_agg(case when m.n = 5
      then jsonb_build_object('job_id', c.job_id, 'outcome', 'failed', 'error', 'refused')
      else jsonb_build_object('job_id', c.job_id, 'outcome', 'published', 'platform_post_id', 'p' || m.n) end)
    from tests.many_claimed as c join tests.many as m on m.id = c.content_id where m.n <> 4)),
  4,
  'four targets of four posts are reported in one call'
);
select is(
  (select string_agg(m.n || ':' || c.status, ',' order by m.n) from tests.many as m join public.content as c on c.id = m.id),
  '1:published,2:published,3:published,4:publishing,5:failed',
  'each post is settled by its own targets: published, still publishing, failed'
);
select is(
  private.settle_social_content((select array_agg(id) || array_agg(id) from tests.many)),
  0,
  'settling again (with repeated ids) moves nothing'
);

-- A poisoned owner fails alone ----------------------------------------------------------------------
create function tests.poison()
returns trigger
language plpgsql
as $$
begin
  if new.user_id = tests.get_user_id('bob') and new.status = 'publishing' then
    raise exception 'bob''s row is broken';
  end if;
  return new;
end;
$$;
create trigger poison before update on public.social_posts for each row execute function tests.poison();
insert into public.social_connections (user_id, platform, platform_user_id, access_token, scopes)
values (tests.get_user_id('bob'), 'twitter', 'x-bob', 'v1:ciphertext', '{tweet.write}');
create table tests.round2 as
select tests.due_post('alice', '{twitter}', 'Second') as alice_post, tests.due_post('bob', '{twitter}', 'Second') as bob_post;
select is(private.publish_due_content(), 1, 'with bob''s rows broken, alice''s post still moves');
select is(
  (select status || ':' || publish_error from public.content where id = (select bob_post from tests.round2)),
  'failed:publishing could not start: bob''s row is broken',
  'bob''s due post is failed with the reason'
);
select is((select status from public.content where id = (select alice_post from tests.round2)), 'publishing',
  'alice''s is publishing');

select * from finish();
rollback;
