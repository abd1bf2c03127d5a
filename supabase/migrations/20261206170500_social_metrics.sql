-- Metrics of published social posts, for 7 days after publishing: pg_cron's beacon-social-metrics
-- wakes dispatch hourly when some are due; dispatch claims them (private.claim_social_metrics),
-- asks each platform for the post's public counts, and records them
-- (private.record_social_metrics) into social_posts.metrics, with one analytics event
-- (event_type social) per count that grew, so scoring, workflows and reports can use them.

create index social_posts_metrics_due_idx on public.social_posts (published_at) where status = 'published';

-- Leases by metrics_fetched_at: a claimed post is not due again for an hour, whether or not
-- its fetch succeeds, so a platform that keeps failing is asked once an hour at most.
create function private.claim_social_metrics(p_limit integer)
returns table (
  social_post_id uuid,
  user_id uuid,
  platform text,
  social_connection_id uuid,
  account_id text,
  platform_post_id text,
  published_at timestamptz,
  metrics jsonb
)
language sql
set search_path = ''
as $$
  with due as (
    select t.id
    from public.social_posts as t
    where t.status = 'published'
      and t.published_at > now() - interval '7 days'
      and (t.metrics_fetched_at is null or t.metrics_fetched_at <= now() - interval '1 hour')
    order by t.metrics_fetched_at nulls first, t.published_at
    limit greatest(least(p_limit, 1000), 0)
    for update of t skip locked
  ),
  leased as (
    update public.social_posts as t
    set metrics_fetched_at = now()
    from due as d
    where t.id = d.id
    returning t.id, t.user_id, t.social_connection_id, t.account_id, t.platform_post_id, t.published_at, t.metrics
  )
  select l.id, l.user_id, sc.platform, l.social_connection_id, l.account_id, l.platform_post_id, l.published_at, l.metrics
  from leased as l
  join public.social_connections as sc on sc.id = l.social_connection_id
  order by l.published_at
$$;
comment on function private.claim_social_metrics(integer) is
  'dispatch: up to p_limit published posts under 7 days old not fetched in the last hour, leased for an hour; what a metrics call needs.';

create function private.social_metrics_problem(p_results jsonb)
returns text
language sql
immutable
set search_path = ''
as $$
  select case
    when jsonb_typeof(p_results) is distinct from 'array' then 'p_results: must be a JSON array'
    else (
      select format('p_results[%s]%s', e.n - 1, p.problem)
      from jsonb_array_elements(p_results) with ordinality as e (r, n)
      cross join lateral (
        select case
          when jsonb_typeof(e.r) <> 'object' then ': must be an object'
          when coalesce(e.r ->> 'social_post_id', '') !~* '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$'
            then '.social_post_id: must be the id claim_social_metrics returned'
          when jsonb_typeof(e.r -> 'metrics') is distinct from 'object' then '.metrics: must be an object of counts'
          else (
            select format('.metrics.%s: must be a whole number from 0 (a count)', m.key)
            from jsonb_each(e.r -> 'metrics') as m
            where m.key !~ '^[a-z][a-z_]{0,39}$' or jsonb_typeof(m.value) <> 'number'
               or m.value::text !~ '^[0-9]{1,15}$'
            order by m.key
            limit 1
          )
        end as problem
      ) as p
      where p.problem is not null
      order by e.n
      limit 1
    )
  end
$$;

create function private.record_social_metrics(p_results jsonb)
returns integer
language plpgsql
set search_path = ''
as $$
declare
  problem text := private.social_metrics_problem(p_results);
  recorded integer;
begin
  if problem is not null then
    raise exception using errcode = 'invalid_parameter_value', message = 'record_social_metrics: ' || problem;
  end if;

  with reported as (
    select distinct on ((e.r ->> 'social_post_id')::uuid)
      (e.r ->> 'social_post_id')::uuid as id, e.r -> 'metrics' as metrics
    from jsonb_array_elements(p_results) with ordinality as e (r, n)
    order by (e.r ->> 'social_post_id')::uuid, e.n desc
  ),
  previous as (
    select t.id, t.user_id, t.content_id, t.social_connection_id, t.metrics as before, r.metrics as after
    from reported as r
    join public.social_posts as t on t.id = r.id
    where t.status = 'published'
    for update of t
  ),
  updated as (
    update public.social_posts as t
    set metrics = p.before || p.after,
        metrics_fetched_at = now()
    from previous as p
    where t.id = p.id
    returning t.id
  ),
  -- One event per count that grew; the message id makes recording the same total twice a no-op.
  events as (
    insert into public.analytics_events (user_id, event_type, event_name, properties, message_id)
    select p.user_id, 'social', m.key,
           jsonb_strip_nulls(jsonb_build_object(
             'social_post_id', p.id, 'content_id', p.content_id, 'campaign_id', c.campaign_id,
             'platform', sc.platform, 'increase', m.value::bigint - coalesce((p.before ->> m.key)::bigint, 0),
             'total', m.value::bigint)),
           format('social:%s:%s:%s', p.id, m.key, m.value)
    from previous as p
    cross join lateral jsonb_each(p.after) as m
    join public.content as c on c.id = p.content_id
    join public.social_connections as sc on sc.id = p.social_connection_id
    where m.value::bigint > coalesce((p.before ->> m.key)::bigint, 0)
    returning 1
  )
  select count(*)::integer into recorded from updated;
  return recorded;
end;
$$;
comment on function private.record_social_metrics(jsonb) is
  'dispatch: stores [{"social_post_id", "metrics": {"likes": n, ...}}] into social_posts.metrics and an analytics event per count that grew; returns the posts recorded.';

-- pg_cron: wakes dispatch when some published post is due for a metrics fetch.
create function private.wake_social_metrics()
returns integer
language plpgsql
set search_path = ''
as $$
declare
  due integer;
begin
  select count(*) into due
  from public.social_posts as t
  where t.status = 'published'
    and t.published_at > now() - interval '7 days'
    and (t.metrics_fetched_at is null or t.metrics_fetched_at <= now() - interval '1 hour');
  if due > 0 then
    perform private.call_function('/dispatch');
  end if;
  return due;
end;
$$;
comment on function private.wake_social_metrics() is
  'pg_cron (beacon-social-metrics): how many published posts are due for metrics; wakes dispatch when any are.';

revoke all on function private.claim_social_metrics(integer), private.social_metrics_problem(jsonb),
  private.record_social_metrics(jsonb), private.wake_social_metrics()
  from public, anon, authenticated, service_role;

select cron.schedule('beacon-social-metrics', '5 * * * *', 'select private.wake_social_metrics()');
