-- Publishing at the issue's size (10,000 posts due at the same minute across 1,000 owners):
--
--   private.settle_social_content: driven by the given content ids (one primary-key probe and
--     one index range of social_posts each). Its former shape grouped every target first and
--     then joined content; the planner, estimating one group, probed content by its status
--     index once per group, which grew with the square of the batch (10,000 ids: 40 s).
--   private.publish_due_content: moves batches of p_limit until nothing is due (or
--     p_seconds have gone), so a minute's posts are all queued by one run; it was one batch a
--     minute (10,000 posts took ten minutes to reach the queue). A failed batch is still
--     redone owner by owner, each alone.

create or replace function private.settle_social_content(p_content_ids uuid[])
returns integer
language sql
set search_path = ''
as $$
  with state as materialized (
    select i.id, s.failed, s.total, s.last_published
    from (select distinct u.id from unnest(p_content_ids) as u (id)) as i
    cross join lateral (
      select
        count(*) filter (where t.status in ('pending', 'publishing')) as open,
        count(*) filter (where t.status = 'failed') as failed,
        count(*) as total,
        max(t.published_at) as last_published
      from public.social_posts as t
      where t.content_id = i.id
    ) as s
    where s.open = 0
      and s.total > 0
  ),
  settled as (
    update public.content as c
    set status = case when s.failed = 0 then 'published' else 'failed' end,
        published_at = case when s.failed = 0 then coalesce(s.last_published, now()) end,
        publish_error = case when s.failed > 0
          then format('%s of %s targets failed; each one''s reason is in social_posts.error', s.failed, s.total) end
    from state as s
    where c.id = s.id
      and c.status = 'publishing'
    returning c.id
  )
  select count(*)::integer from settled
$$;
comment on function private.settle_social_content(uuid[]) is
  'Moves publishing content whose targets have all ended to published (none failed) or failed; returns how many moved. One probe per given id.';

-- Owner by owner, each alone: the fallback when a whole batch failed on one owner's data.
create function private.publish_due_content_by_owner(p_limit integer)
returns integer
language plpgsql
set search_path = ''
as $$
declare
  moved integer := 0;
  owner uuid;
  reason text;
begin
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
  return moved;
end;
$$;
comment on function private.publish_due_content_by_owner(integer) is
  'publish_due_content''s fallback: due content owner by owner; an owner whose content cannot move gets it failed with the reason, alone.';

drop function private.publish_due_content(integer);
create function private.publish_due_content(p_limit integer default 1000, p_seconds integer default 20)
returns integer
language plpgsql
set search_path = ''
as $$
declare
  moved integer := 0;
  batch integer;
  deadline timestamptz := clock_timestamp() + make_interval(secs => greatest(p_seconds, 0));
begin
  loop
    begin
      batch := private.publish_due_content_batch(null, p_limit);
    exception when others then
      -- One owner's data broke the batch: the rest of what is due moves owner by owner.
      moved := moved + private.publish_due_content_by_owner(p_limit);
      exit;
    end;
    moved := moved + batch;
    exit when batch < p_limit or clock_timestamp() >= deadline;
  end loop;
  if moved > 0 then
    perform private.call_function('/dispatch');
  end if;
  return moved;
end;
$$;
comment on function private.publish_due_content(integer, integer) is
  'pg_cron (beacon-publish-due-content): moves due scheduled content on, set-based, p_limit at a time until none is due or p_seconds have gone; an owner whose content cannot move gets it failed with the reason, alone.';

revoke all on function private.publish_due_content_by_owner(integer), private.publish_due_content(integer, integer)
  from public, anon, authenticated, service_role;
