-- Metrics of published social posts (migration social_metrics): which posts are due (published,
-- under 7 days old, not fetched within the hour), claimed once, recorded into metrics with an
-- analytics event per count that grew (campaign_id in its properties), repeats are no-ops, bad
-- results are refused with their path.
begin;
\ir _helpers.psql

select plan(12);

select tests.create_user('alice');

insert into public.social_connections (user_id, platform, platform_user_id, access_token, scopes)
values (tests.get_user_id('alice'), 'twitter', 'x-alice', 'v1:ciphertext', '{tweet.write}');

-- Published posts of alice's, as complete_social_posts leaves them, `age` ago.
create function tests.published(age interval)
returns uuid
language plpgsql
as $$
declare
  item uuid;
  target uuid;
begin
  item := tests.insert_row('content', 'alice', jsonb_build_object('content_type', 'social_post',
    'scheduled_at', now() + interval '1 day', 'campaign_id', tests.insert_row('campaigns', 'alice', '{}')));
  insert into public.social_posts (user_id, content_id, social_connection_id)
  select tests.get_user_id('alice'), item, id from public.social_connections where platform_user_id = 'x-alice'
  returning id into target;
  update public.content set status = 'scheduled' where id = item;
  update public.content set status = 'publishing' where id = item;
  update public.social_posts
  set status = 'published', platform_post_id = 'x-' || left(target::text, 8), published_at = now() - age
  where id = target;
  return target;
end;
$$;

create table tests.posts as
select tests.published(interval '1 hour') as fresh, tests.published(interval '8 days') as old;

select is(private.wake_social_metrics(), 1, 'one published post is due for metrics (the other is over 7 days old)');
create table tests.claim as select * from private.claim_social_metrics(10);
select is((select social_post_id from tests.claim), (select fresh from tests.posts), 'the fresh post is claimed');
select is((select platform || ':' || platform_post_id from tests.claim),
  'twitter:x-' || left((select fresh from tests.posts)::text, 8), '... with its platform and post id');
select is((select count(*)::int from private.claim_social_metrics(10)), 0, 'not again within the hour');

select is(
  private.record_social_metrics(jsonb_build_array(jsonb_build_object('social_post_id', (select fresh from tests.posts),
    'metrics', '{"likes": 5, "replies": 1, "reposts": 0, "impressions": 120}'::jsonb))),
  1,
  'metrics are recorded'
);
select is((select metrics from public.social_posts where id = (select fresh from tests.posts)),
  '{"likes": 5, "replies": 1, "reposts": 0, "impressions": 120}'::jsonb, '... into social_posts.metrics');
select is(
  (select string_agg(event_name || '+' || (properties ->> 'increase'), ',' order by event_name)
   from public.analytics_events where event_type = 'social'),
  'impressions+120,likes+5,replies+1',
  'one social event per count that grew'
);
select is(
  (select count(*)::int from public.analytics_events as e
   join public.content as c on c.id = (e.properties ->> 'content_id')::uuid
   where e.event_type = 'social' and (e.properties ->> 'campaign_id')::uuid = c.campaign_id),
  3,
  '... each carrying the content''s campaign_id'
);
select private.record_social_metrics(jsonb_build_array(jsonb_build_object('social_post_id', (select fresh from tests.posts),
  'metrics', '{"likes": 5, "replies": 1, "reposts": 0, "impressions": 120}'::jsonb)));
select is((select count(*)::int from public.analytics_events where event_type = 'social'), 3,
  'recording the same counts again adds no event');
select private.record_social_metrics(jsonb_build_array(jsonb_build_object('social_post_id', (select fresh from tests.posts),
  'metrics', '{"likes": 7}'::jsonb)));
select is(
  (select (metrics ->> 'likes') || '/' || (metrics ->> 'impressions') from public.social_posts where id = (select fresh from tests.posts)),
  '7/120',
  'a later fetch updates the counts it has and keeps the others'
);
select throws_ok(
  $$select private.record_social_metrics('[{"social_post_id": "00000000-0000-4000-8000-000000000000", "metrics": {"likes": -1}}]')$$,
  '22023', 'record_social_metrics: p_results[0].metrics.likes: must be a whole number from 0 (a count)',
  'a bad count is refused with its path'
);
select is(
  private.record_social_metrics('[{"social_post_id": "00000000-0000-4000-8000-000000000000", "metrics": {"likes": 1}}]'),
  0,
  'a post that is not published (or not there) records nothing'
);

select * from finish();
rollback;
