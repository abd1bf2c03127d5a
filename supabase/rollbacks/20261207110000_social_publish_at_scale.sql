-- Back to one batch of due content a minute, and the settle that groups every target first.
drop function private.publish_due_content(integer, integer);
drop function private.publish_due_content_by_owner(integer);

create or replace function private.settle_social_content(p_content_ids uuid[])
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

revoke all on function private.publish_due_content(integer) from public, anon, authenticated, service_role;
