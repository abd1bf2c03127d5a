-- Executions that still have work to do. A workflow that fires gets a workflow_executions
-- row (status running, trigger_data) and a private.workflow_runs row in the same statement;
-- the worker (the workflow_worker migration) claims runs that are due, runs their steps,
-- and removes them when the execution completes or fails. A wait step parks a run until
-- run_after; a webhook step parks it until the dispatcher reports (waiting_for).
-- Deleting a workflow deletes its executions, and with them their runs and queued webhooks.
--
-- Workflows that start workflows: while a step runs, the setting beacon.workflow_chain
-- holds the workflows of the chain so far (local to the worker's transaction). A workflow
-- already in the chain does not fire again (no loops), and an execution that would sit
-- deeper than private.max_workflow_depth() is recorded as failed, without running.

alter table public.workflow_executions
  add column step_results jsonb not null default '[]',
  add constraint workflow_executions_step_results_check check (jsonb_typeof(step_results) = 'array');
comment on column public.workflow_executions.step_results is
  'One entry per step run so far: {"step": i, "type", "status": done | unchanged | skipped | waiting | stopped | failed, "at", ...details}.';

create table private.workflow_runs (
  execution_id uuid primary key references public.workflow_executions (id) on delete cascade,
  workflow_id uuid not null,
  user_id uuid not null,
  lead_id uuid,
  next_step integer not null default 0,
  run_after timestamptz not null default now(),
  chain uuid[] not null default '{}',
  waiting_for uuid,
  constraint workflow_runs_next_step_check check (next_step >= 0)
);
comment on table private.workflow_runs is
  'Executions with steps left: claimed by the worker when run_after has passed; parked by wait and webhook steps.';
comment on column private.workflow_runs.next_step is 'Index of the next step to run (from 0).';
comment on column private.workflow_runs.chain is 'The workflows whose steps led to this execution, first to last.';
comment on column private.workflow_runs.waiting_for is 'The webhook (private.webhook_queue) the execution waits for.';
create index workflow_runs_run_after_idx on private.workflow_runs (run_after);
revoke all on table private.workflow_runs from public, anon, authenticated, service_role;

create function private.max_workflow_depth()
returns integer
language plpgsql
immutable
set search_path = ''
as $$
begin
  return 5;
end;
$$;
comment on function private.max_workflow_depth() is
  'How many workflows may start one another in a chain; a deeper execution is recorded as failed.';

create function private.current_workflow_chain()
returns uuid[]
language plpgsql
stable
set search_path = ''
as $$
begin
  return coalesce(nullif(current_setting('beacon.workflow_chain', true), '')::uuid[], '{}');
end;
$$;
comment on function private.current_workflow_chain() is
  'The workflows whose step is running now, first to last (empty outside the worker).';

-- Starts one execution per (workflow, owner, lead, trigger data), set-based; returns the
-- ids of the executions that will run.
create function private.start_workflow_executions(
  workflow_ids uuid[],
  user_ids uuid[],
  lead_ids uuid[],
  trigger_data jsonb[]
)
returns setof uuid
language plpgsql
set search_path = ''
as $$
declare
  chain constant uuid[] := private.current_workflow_chain();
  too_deep constant boolean := cardinality(chain) >= private.max_workflow_depth();
  chain_names text;
begin
  if coalesce(cardinality(workflow_ids), 0) = 0 then
    return;
  end if;
  if too_deep then
    select string_agg(coalesce(w.name, c.id::text), ' -> ' order by c.n)
    into chain_names
    from unnest(chain) with ordinality as c (id, n)
    left join public.workflows as w on w.id = c.id;
  end if;
  return query
  with matched as materialized (
    select
      gen_random_uuid() as execution_id,
      m.workflow_id,
      m.user_id,
      m.lead_id,
      m.data || case when cardinality(chain) > 0 then jsonb_build_object('triggered_by', chain) else '{}' end
        as data
    from unnest(workflow_ids, user_ids, lead_ids, trigger_data) as m (workflow_id, user_id, lead_id, data)
    where m.workflow_id <> all (chain)
  ),
  executions as (
    insert into public.workflow_executions (id, workflow_id, user_id, trigger_data, status, error_message, completed_at)
    select
      m.execution_id,
      m.workflow_id,
      m.user_id,
      m.data,
      case when too_deep then 'failed' else 'running' end,
      case when too_deep then format('not run: workflows started by workflows stop at a depth of %s (%s)',
        private.max_workflow_depth(), chain_names) end,
      case when too_deep then now() end
    from matched as m
  ),
  runs as (
    insert into private.workflow_runs (execution_id, workflow_id, user_id, lead_id, chain)
    select m.execution_id, m.workflow_id, m.user_id, m.lead_id, chain
    from matched as m
    where not too_deep
    returning execution_id
  )
  select r.execution_id from runs as r;
end;
$$;
comment on function private.start_workflow_executions(uuid[], uuid[], uuid[], jsonb[]) is
  'Starts executions (workflow_executions + private.workflow_runs) for matched workflows, skipping those already in the running chain and failing those too deep.';

revoke all on function
  private.max_workflow_depth(),
  private.current_workflow_chain(),
  private.start_workflow_executions(uuid[], uuid[], uuid[], jsonb[])
from public, anon, authenticated, service_role;
