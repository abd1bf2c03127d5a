-- The schedule job (beacon-workflow-schedules) isolates each workflow: one owner's schedule
-- that cannot fire never stops the others in the same run.
--
--   - Which schedules are due is found set-based, for every schedule trigger at once
--     (private.claim_due_schedules). If that statement fails (a trigger's stored time zone
--     or cron cannot be read: data written around the validator), the job asks again one
--     trigger at a time, each in its own subtransaction, and the ones that fail are recorded.
--   - Each due workflow fires (one execution per matching lead) in its own subtransaction.
--   - A schedule that cannot fire is recorded on the owner's own rows: a failed execution of
--     the workflow (trigger_data {"trigger": "schedule", "scheduled_for"}, error_message
--     "the schedule could not fire: <reason>; ..."), and the workflow is deactivated, since
--     the cause is its stored configuration and would fail the same way at every firing; the
--     owner corrects trigger_config and sets is_active again. Errors that say "try again"
--     (SQLSTATE classes 40 transaction rollback, 53 insufficient resources, 55 object not in
--     prerequisite state, 57 operator intervention) leave the workflow active: the failed
--     execution records the missed minute and the next firing tries again.
--   - A schedule never fires twice within private.min_schedule_interval_minutes(), whatever
--     its stored cron says.

create function private.claim_due_schedules(at timestamptz, only_workflow uuid default null)
returns table (workflow_id uuid, user_id uuid, conditions jsonb, minute timestamptz)
language sql
set search_path = ''
as $$
  with candidates as (
    select t.workflow_id, t.user_id, t.conditions, m.minute
    from private.workflow_triggers as t
    cross join lateral (
      select max(g.minute) as minute
      from generate_series(date_trunc('minute', at) - interval '4 minutes', date_trunc('minute', at),
                           interval '1 minute') as g (minute)
      cross join lateral (select g.minute at time zone t.timezone as local) as z
      where g.minute > coalesce(t.last_fired_at, t.scheduled_since)
        and g.minute >= coalesce(t.last_fired_at + make_interval(mins => private.min_schedule_interval_minutes()),
                                 '-infinity')
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
      and (only_workflow is null or t.workflow_id = only_workflow)
      and m.minute is not null
    for update of t skip locked
  )
  update private.workflow_triggers as t
  set last_fired_at = c.minute
  from candidates as c
  where t.workflow_id = c.workflow_id
  returning c.workflow_id, c.user_id, c.conditions, c.minute
$$;
comment on function private.claim_due_schedules(timestamptz, uuid) is
  'The schedule triggers (all, or only_workflow''s) due at a minute up to at, locked (skip locked) and marked fired for that minute.';

create function private.record_schedule_failure(workflow_id uuid, minute timestamptz, reason text, state text)
returns void
language plpgsql
set search_path = ''
as $$
declare
  transient constant boolean := left(state, 2) in ('40', '53', '55', '57');
begin
  insert into public.workflow_executions (workflow_id, user_id, trigger_data, status, error_message, completed_at)
  select w.id, w.user_id, jsonb_build_object('trigger', 'schedule', 'scheduled_for', minute), 'failed',
    left(format('the schedule could not fire: %s; %s', reason, case when transient
      then 'the next firing tries again'
      else 'the workflow was deactivated: correct its trigger_config, then set is_active to true' end), 2000),
    now()
  from public.workflows as w
  where w.id = record_schedule_failure.workflow_id;
  if not transient then
    update public.workflows as w set is_active = false where w.id = record_schedule_failure.workflow_id;
  end if;
end;
$$;
comment on function private.record_schedule_failure(uuid, timestamptz, text, text) is
  'Records that a schedule could not fire: a failed execution naming the reason; deactivates the workflow unless the SQLSTATE says to try again.';

create or replace function private.fire_scheduled_workflows(at timestamptz default now())
returns integer
language plpgsql
set search_path = ''
as $$
declare
  due_ids uuid[];
  due_owners uuid[];
  due_conditions jsonb[];
  due_minutes timestamptz[];
  one uuid;
  started integer := 0;
  reason text;
  state text;
begin
  -- Which are due: set-based; when that fails, one trigger at a time.
  begin
    select array_agg(c.workflow_id), array_agg(c.user_id), array_agg(c.conditions), array_agg(c.minute)
    into due_ids, due_owners, due_conditions, due_minutes
    from private.claim_due_schedules(at) as c;
  exception when others then
    due_ids := '{}';
    for one in select t.workflow_id from private.workflow_triggers as t where t.type = 'schedule' order by 1 loop
      begin
        select due_ids || array_agg(c.workflow_id), due_owners || array_agg(c.user_id),
               due_conditions || array_agg(c.conditions), due_minutes || array_agg(c.minute)
        into due_ids, due_owners, due_conditions, due_minutes
        from private.claim_due_schedules(at, one) as c;
      exception when others then
        get stacked diagnostics reason = message_text, state = returned_sqlstate;
        perform private.record_schedule_failure(one, date_trunc('minute', at), reason, state);
      end;
    end loop;
  end;

  -- Each due workflow fires alone: one execution per lead of its owner that meets its conditions.
  for i in 1 .. coalesce(cardinality(due_ids), 0) loop
    begin
      started := started + (
        select count(*)
        from (
          select
            array_agg(due_ids[i]) as workflow_ids,
            array_agg(due_owners[i]) as user_ids,
            array_agg(l.id) as lead_ids,
            array_agg(jsonb_build_object('trigger', 'schedule', 'lead_id', l.id, 'scheduled_for', due_minutes[i])) as data
          from public.leads as l
          where l.user_id = due_owners[i]
            and private.lead_matches(l, due_conditions[i])
        ) as a
        cross join lateral private.start_workflow_executions(a.workflow_ids, a.user_ids, a.lead_ids, a.data)
      );
    exception when others then
      get stacked diagnostics reason = message_text, state = returned_sqlstate;
      perform private.record_schedule_failure(due_ids[i], due_minutes[i], reason, state);
    end;
  end loop;
  return started;
end;
$$;
comment on function private.fire_scheduled_workflows(timestamptz) is
  'pg_cron job beacon-workflow-schedules: fires the schedule workflows due at this minute, one execution per matching lead, each workflow alone (a failure is recorded on it); returns how many executions started.';

revoke all on function
  private.claim_due_schedules(timestamptz, uuid),
  private.record_schedule_failure(uuid, timestamptz, text, text)
from public, anon, authenticated, service_role;
