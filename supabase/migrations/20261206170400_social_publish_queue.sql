-- Publishing social posts on the generic queue (kind social_publish, one job per target):
--
--   pg_cron beacon-publish-due-content, every minute: due scheduled content moves on, set-based
--     (private.publish_due_content): a social post to publishing with one job per pending
--     target, anything else straight to published. If the batch fails, it is redone owner by
--     owner; an owner whose content still cannot move gets it failed, with the reason in
--     content.publish_error and on each pending target, and the others go on.
--   dispatch: private.claim_social_posts(n) leases targets with what an adapter needs;
--     private.complete_social_posts(results) records each target's outcome (published, retry,
--     failed, needs_reauth) on the job and the target, and settles the content: published when
--     every target is, failed when all have ended and one failed.
--
-- Exactly once: a target is enqueued only on its move from pending to publishing, and its job
-- is completed only under a live lease. The job's retries after a timeout reach the dispatcher
-- with the target's marker, which it looks up on the platform before posting again.

select private.register_job_kind('social_publish', 5, 120);

alter table public.content
  add column publish_error text,
  add constraint content_publish_error_check check (length(publish_error) <= 2000);
comment on column public.content.publish_error is
  'Why the last publishing failed (each target''s own reason is in social_posts.error); set by Beacon.';

-- Beacon's own updates of a target (status, ids, metrics) never name the columns the owner
-- writes, so the target check runs only for the owner's changes.
drop trigger check_target on public.social_posts;
create trigger check_target
before insert or delete on public.social_posts
for each row execute function private.check_social_post();
create trigger check_target_change
before update of content_id, social_connection_id, account_id, text, media_urls, user_id on public.social_posts
for each row execute function private.check_social_post();

create index social_posts_content_status_idx on public.social_posts (content_id, status);

-- Content of p_content_ids still publishing whose targets have all ended becomes published
-- (every target published, or cancelled) or failed (one failed).
create function private.settle_social_content(p_content_ids uuid[])
returns integer
language sql
set search_path = ''
as $$
  with state as (
    select
      t.content_id,
      count(*) filter (where t.status in ('pending', 'publishing')) as open,
      count(*) filter (where t.status = 'failed') as failed,
      count(*) as total,
      max(t.published_at) as last_published
    from public.social_posts as t
    where t.content_id = any(p_content_ids)
    group by t.content_id
  ),
  settled as (
    update public.content as c
    set status = case when s.failed = 0 then 'published' else 'failed' end,
        published_at = case when s.failed = 0 then coalesce(s.last_published, now()) end,
        publish_error = case when s.failed > 0
          then format('%s of %s targets failed; each one''s reason is in social_posts.error', s.failed, s.total) end
    from state as s
    where c.id = s.content_id
      and c.status = 'publishing'
      and s.open = 0
    returning c.id
  )
  select count(*)::integer from settled
$$;
comment on function private.settle_social_content(uuid[]) is
  'Moves publishing content whose targets have all ended to published (none failed) or failed; returns how many moved.';

-- One batch of due content (of p_owner only, when given). Returns the items moved.
create function private.publish_due_content_batch(p_owner uuid, p_limit integer)
returns integer
language plpgsql
set search_path = ''
as $$
declare
  moved integer;
  social_ids uuid[];
begin
  with due as (
    select c.id
    from public.content as c
    where c.status = 'scheduled'
      and c.scheduled_at <= now()
      and (p_owner is null or c.user_id = p_owner)
    order by c.scheduled_at
    limit p_limit
    for update skip locked
  ),
  moved as (
    update public.content as c
    set status = case when c.content_type = 'social_post' then 'publishing' else 'published' end,
        publish_error = null
    from due as d
    where c.id = d.id
    returning c.id, c.content_type
  ),
  targets as (
    update public.social_posts as t
    set status = 'publishing', error = null
    from moved as m
    where t.content_id = m.id
      and m.content_type = 'social_post'
      and t.status = 'pending'
    returning t.id, t.user_id, t.content_id
  ),
  enqueued as (
    -- The key is the target and this round: a post failed, fixed and scheduled again is a new job.
    insert into private.jobs (kind, key, user_id, subject_id, payload)
    select 'social_publish', t.id::text || '@' || floor(extract(epoch from now()) * 1000000)::bigint,
           t.user_id, t.id, jsonb_build_object('content_id', t.content_id)
    from targets as t
    on conflict (kind, key) do nothing
    returning subject_id
  )
  select count(*), array_agg(m.id) filter (where m.content_type = 'social_post')
  into moved, social_ids
  from moved as m;
  -- Content whose targets were all published in an earlier round has nothing left to send.
  perform private.settle_social_content(social_ids);
  return moved;
end;
$$;
comment on function private.publish_due_content_batch(uuid, integer) is
  'Moves due scheduled content on (social posts to publishing with a social_publish job per pending target; the rest to published).';

create function private.publish_due_content(p_limit integer default 1000)
returns integer
language plpgsql
set search_path = ''
as $$
declare
  moved integer := 0;
  owner uuid;
  reason text;
begin
  begin
    moved := private.publish_due_content_batch(null, p_limit);
  exception when others then
    -- One owner's data broke the batch: redo it owner by owner, each alone.
    for owner in
      select distinct c.user_id
      from public.content as c
      where c.status = 'scheduled'
        and c.scheduled_at <= now()
    loop
      begin
        moved := moved + private.publish_due_content_batch(owner, p_limit);
      exception when others then
        get stacked diagnostics reason = message_text;
        reason := left('publishing could not start: ' || reason, 2000);
        begin
          with failing as (
            update public.content as c
            set status = case when c.content_type = 'social_post' then 'publishing' else c.status end,
                publish_error = reason
            where c.user_id = owner
              and c.status = 'scheduled'
              and c.scheduled_at <= now()
            returning c.id, c.content_type
          )
          update public.social_posts as t
          set status = 'failed', error = reason
          from failing as f
          where t.content_id = f.id
            and t.status = 'pending';
          update public.content as c
          set status = 'failed'
          where c.user_id = owner
            and c.status = 'publishing'
            and c.publish_error = reason;
        exception when others then
          raise warning 'publish_due_content: owner % could not be failed either (%); retried next run', owner, sqlerrm;
        end;
      end;
    end loop;
  end;
  if moved > 0 then
    perform private.call_function('/dispatch');
  end if;
  return moved;
end;
$$;
comment on function private.publish_due_content(integer) is
  'pg_cron (beacon-publish-due-content): moves due scheduled content on, set-based; an owner whose content cannot move gets it failed with the reason, alone.';

create function private.claim_social_posts(p_limit integer)
returns table (
  job_id bigint,
  social_post_id uuid,
  content_id uuid,
  user_id uuid,
  platform text,
  social_connection_id uuid,
  account_id text,
  text text,
  media_urls text[],
  marker text,
  attempts integer
)
language plpgsql
set search_path = ''
as $$
declare
  claimed jsonb;
  stale jsonb;
begin
  select coalesce(jsonb_agg(jsonb_build_object('id', j.id, 'subject_id', j.subject_id, 'attempts', j.attempts)), '[]')
  into claimed
  from private.claim_jobs('social_publish', p_limit) as j;

  -- A job whose target is gone (its content or connection deleted) or whose content was
  -- archived meanwhile publishes nothing: done, and the target cancelled.
  with jobs as (
    select * from jsonb_to_recordset(claimed) as j (id bigint, subject_id uuid, attempts integer)
  ),
  dropped as (
    select j.id, t.id as target
    from jobs as j
    left join public.social_posts as t on t.id = j.subject_id and t.status = 'publishing'
    left join public.content as c on c.id = t.content_id and c.status = 'publishing'
    where c.id is null
  ),
  cancelled as (
    update public.social_posts as t
    set status = 'cancelled'
    from dropped as d
    where t.id = d.target
    returning t.id
  )
  select coalesce(jsonb_agg(jsonb_build_object('id', d.id, 'outcome', 'done',
           'result', jsonb_build_object('skipped', 'the target or its content is gone or archived'))), '[]')
  into stale
  from dropped as d;
  if jsonb_array_length(stale) > 0 then
    perform private.complete_jobs('social_publish', stale);
  end if;

  return query
  with jobs as (
    select * from jsonb_to_recordset(claimed) as j (id bigint, subject_id uuid, attempts integer)
    where not exists (select from jsonb_array_elements(stale) as s where (s ->> 'id')::bigint = j.id)
  ),
  counted as (
    update public.social_posts as t
    set attempts = j.attempts
    from jobs as j
    where t.id = j.subject_id
    returning t.id, t.content_id, t.user_id, t.social_connection_id, t.account_id, t.text, t.media_urls,
              t.marker, j.id as job_id, j.attempts
  )
  select t.job_id, t.id, t.content_id, t.user_id, sc.platform, t.social_connection_id, t.account_id,
         coalesce(t.text, c.content), t.media_urls, t.marker, t.attempts
  from counted as t
  join public.social_connections as sc on sc.id = t.social_connection_id
  join public.content as c on c.id = t.content_id
  order by t.job_id;
end;
$$;
comment on function private.claim_social_posts(integer) is
  'dispatch: leases up to p_limit social_publish jobs (fair across owners) and returns per target what its adapter needs.';

-- The first problem of complete_social_posts' results, with its path, or null.
create function private.social_result_problem(p_results jsonb)
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
          when jsonb_typeof(e.r -> 'job_id') <> 'number' or (e.r ->> 'job_id') !~ '^[0-9]{1,18}$'
            then '.job_id: must be the job id claim_social_posts returned'
          when coalesce(e.r ->> 'outcome', '') not in ('published', 'retry', 'failed', 'needs_reauth')
            then '.outcome: must be published, retry, failed or needs_reauth'
          when e.r ->> 'outcome' = 'published' and (jsonb_typeof(e.r -> 'platform_post_id') is distinct from 'string'
                 or length(e.r ->> 'platform_post_id') not between 1 and 200)
            then '.platform_post_id: a published target needs the platform''s post id (1 to 200 characters)'
          when e.r ? 'url' and jsonb_typeof(e.r -> 'url') not in ('string', 'null')
            then '.url: must be a string'
          when e.r ? 'error' and jsonb_typeof(e.r -> 'error') not in ('string', 'null')
            then '.error: must be a string'
          when e.r ? 'retry_after_seconds' and ((e.r ->> 'retry_after_seconds') !~ '^[0-9]{1,7}$')
            then '.retry_after_seconds: must be a whole number of seconds'
          when e.r ? 'count_attempt' and jsonb_typeof(e.r -> 'count_attempt') <> 'boolean'
            then '.count_attempt: must be true or false'
        end as problem
      ) as p
      where p.problem is not null
      order by e.n
      limit 1
    )
  end
$$;

create function private.complete_social_posts(p_results jsonb)
returns integer
language plpgsql
set search_path = ''
as $$
declare
  problem text := private.social_result_problem(p_results);
  live jsonb;
  applied integer;
  touched uuid[];
begin
  if problem is not null then
    raise exception using errcode = 'invalid_parameter_value', message = 'complete_social_posts: ' || problem;
  end if;

  -- The results that count: their job is still leased (a lost lease's report is ignored).
  select coalesce(jsonb_agg(r || jsonb_build_object('subject_id', j.subject_id)), '[]')
  into live
  from (
    select distinct on ((r ->> 'job_id')::bigint) r
    from jsonb_array_elements(p_results) with ordinality as e (r, n)
    order by (r ->> 'job_id')::bigint, n
  ) as d
  join private.jobs as j on j.id = (d.r ->> 'job_id')::bigint
  where j.kind = 'social_publish'
    and j.status = 'ready'
    and j.lease_until is not null;

  applied := private.complete_jobs('social_publish', (
    select coalesce(jsonb_agg(jsonb_strip_nulls(jsonb_build_object(
      'id', (r ->> 'job_id')::bigint,
      'outcome', case r ->> 'outcome' when 'published' then 'done' when 'retry' then 'retry' else 'failed' end,
      'error', r ->> 'error',
      'result', case when r ->> 'outcome' = 'published'
        then jsonb_build_object('platform_post_id', r ->> 'platform_post_id', 'url', r ->> 'url') end,
      'retry_after_seconds', (r ->> 'retry_after_seconds')::integer,
      'count_attempt', (r -> 'count_attempt')::boolean))), '[]')
    from jsonb_array_elements(live) as r));

  with outcome as (
    select (r ->> 'subject_id')::uuid as target, r, j.status as job_status, j.attempts, j.last_error
    from jsonb_array_elements(live) as r
    join private.jobs as j on j.id = (r ->> 'job_id')::bigint
  ),
  updated as (
    update public.social_posts as t
    set status = case o.job_status when 'done' then 'published' when 'ready' then 'publishing' else 'failed' end,
        platform_post_id = case when o.job_status = 'done' then o.r ->> 'platform_post_id' else t.platform_post_id end,
        url = case when o.job_status = 'done' then left(o.r ->> 'url', 2048) else t.url end,
        published_at = case when o.job_status = 'done' then now() else t.published_at end,
        error = case when o.job_status = 'done' then null
                     else left(coalesce(o.r ->> 'error', o.last_error, 'failed without a reason'), 2000) end,
        attempts = o.attempts
    from outcome as o
    where t.id = o.target
      and t.status = 'publishing'
    returning t.id, t.user_id, t.content_id, t.social_connection_id, t.status, t.platform_post_id, t.url,
              o.r ->> 'outcome' as reported, t.error
  ),
  reauth as (
    update public.social_connections as sc
    set status = 'needs_reauth', last_error = left(u.error, 1000)
    from (select distinct on (social_connection_id) social_connection_id, error from updated where reported = 'needs_reauth') as u
    where sc.id = u.social_connection_id
    returning sc.id
  ),
  -- (Data-modifying CTEs run whether or not the final select reads them.)
  events as (
    insert into public.analytics_events (user_id, event_type, event_name, properties, message_id)
    select u.user_id, 'social', 'social_published',
           jsonb_strip_nulls(jsonb_build_object('social_post_id', u.id, 'content_id', u.content_id,
             'campaign_id', c.campaign_id, 'platform', sc.platform, 'platform_post_id', u.platform_post_id, 'url', u.url)),
           'social_published:' || u.id
    from updated as u
    join public.content as c on c.id = u.content_id
    join public.social_connections as sc on sc.id = u.social_connection_id
    where u.status = 'published'
    returning 1
  )
  select array_agg(distinct u.content_id) into touched
  from updated as u
  where u.status <> 'publishing';

  perform private.settle_social_content(touched);
  return applied;
end;
$$;
comment on function private.complete_social_posts(jsonb) is
  'dispatch: records per target published (platform_post_id, url), retry (retry_after_seconds, count_attempt), failed or needs_reauth (error); settles the content. Returns the results applied.';

revoke all on function private.settle_social_content(uuid[]), private.publish_due_content_batch(uuid, integer),
  private.publish_due_content(integer), private.claim_social_posts(integer), private.social_result_problem(jsonb),
  private.complete_social_posts(jsonb)
  from public, anon, authenticated, service_role;

select cron.schedule('beacon-publish-due-content', '* * * * *', 'select private.publish_due_content()');
