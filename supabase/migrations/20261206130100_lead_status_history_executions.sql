-- Status history under the set-based workflow worker: one update moves many leads' statuses, each
-- for its own execution, so the execution is looked up per lead in beacon.lead_executions
-- ({lead id: execution id}, set by private.run_workflow_step) when beacon.execution_id is empty.
create or replace function private.record_lead_status_changes()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
declare
  context_reason constant text := nullif(current_setting('beacon.change_reason', true), '');
  by_user constant uuid := auth.uid();
  -- The set-based worker changes many leads in one statement, each for its own execution.
  lead_executions constant jsonb := nullif(current_setting('beacon.lead_executions', true), '')::jsonb;
begin
  insert into public.lead_status_history (
    user_id, lead_id, from_status, to_status, reason, changed_by, workflow_id, execution_id
  )
  select
    n.user_id,
    n.id,
    o.status,
    n.status,
    coalesce(context_reason, case
      when by_user is not null then 'user'
      when auth.role() = 'service_role' then 'service'
      else 'system'
    end),
    by_user,
    case when context_reason = 'workflow' then nullif(current_setting('beacon.workflow_id', true), '')::uuid end,
    case when context_reason = 'workflow' then coalesce(
      nullif(current_setting('beacon.execution_id', true), '')::uuid,
      (lead_executions ->> n.id::text)::uuid) end
  from new_leads as n
  join old_leads as o on o.id = n.id
  where n.status is distinct from o.status;
  return null;
end;
$$;
