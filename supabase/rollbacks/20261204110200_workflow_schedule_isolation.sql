-- Rollback of 20261204110200_workflow_schedule_isolation: the schedule job as
-- 20261125141500_workflow_schedules defined it.
create or replace function private.fire_scheduled_workflows(at timestamptz default now())
returns integer
language plpgsql
set search_path = ''
as $$
declare
  due record;
  started integer := 0;
begin
  for due in
    with candidates as (
      select t.workflow_id, t.user_id, t.conditions, m.minute
      from private.workflow_triggers as t
      cross join lateral (
        select max(g.minute) as minute
        from generate_series(date_trunc('minute', at) - interval '4 minutes', date_trunc('minute', at),
                             interval '1 minute') as g (minute)
        cross join lateral (select g.minute at time zone t.timezone as local) as z
        where g.minute > coalesce(t.last_fired_at, t.scheduled_since)
          and t.schedule -> 'minutes' @> to_jsonb(extract(minute from z.local)::integer)
          and t.schedule -> 'hours' @> to_jsonb(extract(hour from z.local)::integer)
          and t.schedule -> 'months' @> to_jsonb(extract(month from z.local)::integer)
          and case when (t.schedule ->> 'day_or_weekday')::boolean
            then t.schedule -> 'days' @> to_jsonb(extract(day from z.local)::integer)
              or t.schedule -> 'weekdays' @> to_jsonb(extract(dow from z.local)::integer)
            else t.schedule -> 'days' @> to_jsonb(extract(day from z.local)::integer)
              and t.schedule -> 'weekdays' @> to_jsonb(extract(dow from z.local)::integer)
          end
      ) as m
      where t.type = 'schedule'
        and m.minute is not null
      for update of t skip locked
    )
    update private.workflow_triggers as t
    set last_fired_at = c.minute
    from candidates as c
    where t.workflow_id = c.workflow_id
    returning c.workflow_id, c.user_id, c.conditions, c.minute
  loop
    started := started + (
      select count(*)
      from (
        select
          array_agg(due.workflow_id) as workflow_ids,
          array_agg(due.user_id) as user_ids,
          array_agg(l.id) as lead_ids,
          array_agg(jsonb_build_object('trigger', 'schedule', 'lead_id', l.id, 'scheduled_for', due.minute)) as data
        from public.leads as l
        where l.user_id = due.user_id
          and private.lead_matches(l, due.conditions)
      ) as a
      cross join lateral private.start_workflow_executions(a.workflow_ids, a.user_ids, a.lead_ids, a.data)
    );
  end loop;
  return started;
end;
$$;
comment on function private.fire_scheduled_workflows(timestamptz) is
  'pg_cron job beacon-workflow-schedules: fires the schedule workflows due at this minute, one execution per matching lead; returns how many.';

drop function private.record_schedule_failure(uuid, timestamptz, text, text);
drop function private.claim_due_schedules(timestamptz, uuid);
