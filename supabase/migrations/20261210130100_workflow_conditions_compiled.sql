-- The set-based workflow worker's `condition` step is compiled by the lead grammar's compiler
-- (issue 12: one grammar, one validator, one compiler). private.workflow_conditions_hold, which
-- the worker calls once per group of executions at a condition step, had its own SQL for the
-- grammar's lead fields and no activity at all: a condition on `events` or `emails` held for
-- every lead in the worker (while private.lead_matches, one execution at a time, honoured it).
-- It now runs the condition compiled by private.lead_conditions_sql (private.leads_meeting): one
-- execute per owner of the group (one: a group is one workflow's), the owner a literal so that
-- activity sub-selects are hashed once.
--
-- private.lead_matches stays for the paths that decide for one lead at a time, where a compiled
-- query would be one execute per lead; its comment says which and what keeps the two equal.

create function private.leads_meeting(owner uuid, conditions jsonb, lead_ids uuid[] default null)
returns setof uuid
language plpgsql
stable
set search_path = ''
as $$
begin
  return query execute format('select l.id from public.leads as l where l.user_id = %L::uuid%s and %s',
    owner, case when lead_ids is not null then ' and l.id = any ($1)' end,
    private.lead_conditions_sql(conditions, 'l', format('%L::uuid', owner)))
  using lead_ids;
end;
$$;
comment on function private.leads_meeting(uuid, jsonb, uuid[]) is
  'The ids of the owner''s leads (of lead_ids, when given) that meet (valid) lead conditions (null: all of them), in one query compiled by private.lead_conditions_sql, the owner a literal.';
revoke all on function private.leads_meeting(uuid, jsonb, uuid[]) from public, anon, authenticated, service_role;

create or replace function private.workflow_conditions_hold(lead_ids uuid[], conditions jsonb)
returns setof uuid
language plpgsql
stable
set search_path = ''
as $$
declare
  owner uuid;
begin
  for owner in select distinct l.user_id from public.leads as l where l.id = any (lead_ids) loop
    return query select m.id from private.leads_meeting(owner, conditions, lead_ids) as m (id);
  end loop;
end;
$$;
comment on function private.workflow_conditions_hold(uuid[], jsonb) is
  'Which of these leads meet (valid) lead conditions, activity included; null conditions: all of them. One query per owner of the leads, compiled by private.lead_conditions_sql: the set-based worker''s condition step.';

comment on function private.lead_conditions_sql(jsonb, text, text) is
  'The SQL boolean expression of (valid) lead conditions over the lead row alias `lead`, whose owner is the SQL expression `owner` (a literal lets the planner hash the activity sub-selects once). Values are quoted literals. The one compiler of segments, recipient lists (segments and lead selectors) and the set-based worker''s workflow conditions (workflow_conditions_hold); agrees with lead_matches.';

comment on function private.lead_matches(public.leads, jsonb) is
  'Whether one lead meets (valid) lead conditions, activity included; null conditions: always. The grammar''s second evaluator, for the paths that decide one lead (or a statement''s few rows) at a time against conditions that differ per workflow: run_workflow_execution, start_manual_run, the match_*_workflows statement triggers, start_lead_change_workflows (leads as recorded), evaluate_segment''s and fire_scheduled_workflows'' workflow conditions. A compiled query there would be an execute per lead or per workflow. It must select exactly what lead_conditions_sql compiles: lead_predicate_property_test checks both on random data (docs/segments.md).';
