-- Manual runs: public.run_workflow(workflow_id, lead_id) starts one of the caller's active
-- workflows on one of their leads now (whatever its trigger type; workflows of type manual
-- start only this way) and returns the execution's id. The lead must meet the workflow's
-- conditions. Each run is recorded in public.workflow_run_requests, which the app may also
-- insert into directly: a trigger turns the row into the execution (execution_id).
-- The indirection exists because only the system writes executions: the RPC runs as its
-- caller, and the trigger, which the system owns, does the writing.

create table public.workflow_run_requests (
  id uuid primary key default gen_random_uuid(),
  user_id uuid not null default auth.uid() references auth.users (id) on delete cascade,
  workflow_id uuid not null,
  lead_id uuid,
  execution_id uuid,
  created_at timestamptz not null default now(),
  constraint workflow_run_requests_workflow_fkey foreign key (workflow_id, user_id)
    references public.workflows (id, user_id) on delete cascade,
  -- Deleting the lead keeps the record of the run.
  constraint workflow_run_requests_lead_fkey foreign key (lead_id, user_id)
    references public.leads (id, user_id) on delete set null (lead_id),
  constraint workflow_run_requests_execution_fkey foreign key (execution_id)
    references public.workflow_executions (id) on delete set null
);
comment on table public.workflow_run_requests is
  'Manual runs of workflows (public.run_workflow): who ran which workflow on which lead, and the execution it started.';
comment on column public.workflow_run_requests.execution_id is 'The execution the run started (set by the system).';

create index workflow_run_requests_workflow_id_user_id_idx on public.workflow_run_requests (workflow_id, user_id);
create index workflow_run_requests_lead_id_user_id_idx on public.workflow_run_requests (lead_id, user_id)
  where lead_id is not null;
create index workflow_run_requests_execution_id_idx on public.workflow_run_requests (execution_id)
  where execution_id is not null;
create index workflow_run_requests_user_id_created_at_idx on public.workflow_run_requests (user_id, created_at desc);

select private.secure_tenant_table('public.workflow_run_requests');
grant select on table public.workflow_run_requests to authenticated;
grant insert (id, user_id, workflow_id, lead_id) on table public.workflow_run_requests to authenticated;

-- Security definer: the owner asks, the system writes the execution.
create function private.start_manual_run()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
declare
  workflow public.workflows;
  lead public.leads;
begin
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
comment on function private.start_manual_run() is
  'Trigger: turns a workflow_run_requests row into an execution of the workflow on the lead (checks it is active and the lead qualifies).';
revoke all on function private.start_manual_run() from public, anon, authenticated, service_role;

create trigger start_run
before insert on public.workflow_run_requests
for each row execute function private.start_manual_run();

create function public.run_workflow(workflow_id uuid, lead_id uuid)
returns uuid
language sql
volatile
set search_path = ''
as $$
  insert into public.workflow_run_requests (workflow_id, lead_id)
  values (run_workflow.workflow_id, run_workflow.lead_id)
  returning execution_id
$$;
comment on function public.run_workflow(uuid, uuid) is
  'Starts one of your active workflows on one of your leads now; returns the execution id (see workflow_executions).';
revoke all on function public.run_workflow(uuid, uuid) from public, anon;
grant execute on function public.run_workflow(uuid, uuid) to authenticated, service_role;
