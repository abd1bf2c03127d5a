-- Rollback of 20261210130200_workflow_schedules_compiled: schedules ask lead_matches of each
-- lead again (the body as 20261204110200_workflow_schedule_isolation left it).
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

comment on function private.lead_matches(public.leads, jsonb) is
  'Whether one lead meets (valid) lead conditions, activity included; null conditions: always. The grammar''s second evaluator, for the paths that decide one lead (or a statement''s few rows) at a time against conditions that differ per workflow: run_workflow_execution, start_manual_run, the match_*_workflows statement triggers, start_lead_change_workflows (leads as recorded), evaluate_segment''s and fire_scheduled_workflows'' workflow conditions. A compiled query there would be an execute per lead or per workflow. It must select exactly what lead_conditions_sql compiles: lead_predicate_property_test checks both on random data (docs/segments.md).';
