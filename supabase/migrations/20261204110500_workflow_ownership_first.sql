-- The workflow triggers that run as their owner (security definer) check whose row it is
-- before they read anything: a signed-in user who names another owner (user_id) in a
-- workflow or a manual run request gets row-level security's refusal (42501) and learns
-- nothing of that owner's workflows, leads or content. A request for a workflow or lead that is not the caller's gets the same error
-- as one that does not exist ("workflow <id> not found", "lead <id> not found", P0002).
-- Before this, the definer triggers ran before row-level security refused the row, so their
-- messages (a workflow's name, whether it was active, its conditions; whether a content id
-- existed) answered questions about other owners.

create function private.caller_may_act_for(owner uuid)
returns boolean
language sql
stable
set search_path = ''
as $$
  select case
    when current_setting('role', true) in ('authenticated', 'anon') or auth.role() in ('authenticated', 'anon')
      then coalesce(owner = auth.uid(), false)
    else true
  end
$$;
comment on function private.caller_may_act_for(uuid) is
  'Whether the caller may act for owner: a signed-in user (or anon) only for themselves; the service and the system for anyone.';
revoke all on function private.caller_may_act_for(uuid) from public, anon, authenticated, service_role;

create or replace function private.check_workflow_config()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
declare
  problem text;
begin
  -- Another owner's row is for row-level security to refuse: nothing of theirs is read here.
  if not private.caller_may_act_for(new.user_id) then
    return new;
  end if;
  -- The outline (an object with a string type; an object with a steps array) is left to
  -- workflows_trigger_config_check and workflows_action_config_check, which name it.
  if jsonb_typeof(new.trigger_config -> 'type') is distinct from 'string'
     or jsonb_typeof(new.action_config -> 'steps') is distinct from 'array' then
    return new;
  end if;
  problem := coalesce(
    private.workflow_trigger_problem(new.trigger_config, new.user_id),
    private.workflow_steps_problem(new.action_config, new.user_id));
  if problem is not null then
    raise exception using
      errcode = 'check_violation',
      message = problem,
      hint = 'See the comment on the workflow_config migration (or trigger_config and action_config in the docs) for what a workflow may say.';
  end if;
  return new;
end;
$$;

create or replace function private.start_manual_run()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
declare
  workflow public.workflows;
  lead public.leads;
begin
  -- A request filed as another owner is for row-level security to refuse: nothing is read.
  if not private.caller_may_act_for(new.user_id) then
    return new;
  end if;
  -- One answer for "not yours" and "not there".
  select w.* into workflow from public.workflows as w where w.id = new.workflow_id and w.user_id = new.user_id;
  if not found then
    raise exception 'workflow % not found', new.workflow_id
      using errcode = 'P0002', hint = 'Pass the id of one of your own workflows.';
  end if;
  if not workflow.is_active then
    raise exception 'workflow "%" is inactive', workflow.name
      using errcode = '55000', hint = 'Inactive workflows never run: set is_active to true first.';
  end if;
  if new.lead_id is null then
    raise exception 'a manual run needs a lead'
      using errcode = '23502', hint = 'Pass the id of the lead to run the workflow on.';
  end if;
  select l.* into lead from public.leads as l where l.id = new.lead_id and l.user_id = new.user_id;
  if not found then
    raise exception 'lead % not found', new.lead_id
      using errcode = 'P0002', hint = 'Pass the id of one of your own leads.';
  end if;
  if not private.lead_matches(lead, workflow.trigger_config -> 'conditions') then
    raise exception 'lead % does not meet the conditions of workflow "%"', lead.id, workflow.name
      using errcode = '55000', detail = (workflow.trigger_config -> 'conditions')::text;
  end if;
  new.execution_id := private.start_workflow_executions(
    array[workflow.id], array[workflow.user_id], array[lead.id],
    array[jsonb_build_object('trigger', 'manual', 'lead_id', lead.id, 'requested_by', auth.uid(), 'request_id', new.id)]);
  return new;
end;
$$;
