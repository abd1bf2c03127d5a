-- workflow_executions: one run of a workflow. Rows belong to the system: owners read
-- them, only the service writes them. user_id is copied from the workflow so the policy
-- is a plain equality, and the (workflow_id, user_id) key makes a mismatch impossible.

create table public.workflow_executions (
  id uuid primary key default gen_random_uuid(),
  workflow_id uuid not null,
  user_id uuid not null default auth.uid() references auth.users (id) on delete cascade,
  trigger_data jsonb not null default '{}',
  status text not null default 'running',
  error_message text,
  started_at timestamptz not null default now(),
  completed_at timestamptz,
  constraint workflow_executions_workflow_fkey foreign key (workflow_id, user_id)
    references public.workflows (id, user_id) on delete cascade,
  constraint workflow_executions_trigger_data_check check (jsonb_typeof(trigger_data) = 'object'),
  constraint workflow_executions_status_check check (status in ('running', 'completed', 'failed')),
  constraint workflow_executions_completed_at_check check (completed_at >= started_at)
);
comment on table public.workflow_executions is
  'Runs of workflows (system-written; owners read). user_id mirrors the workflow''s owner.';

create index workflow_executions_workflow_id_user_id_idx on public.workflow_executions (workflow_id, user_id);
create index workflow_executions_user_id_started_at_idx on public.workflow_executions (user_id, started_at desc);

create function private.set_execution_owner()
returns trigger
language plpgsql
set search_path = ''
as $$
begin
  select w.user_id into new.user_id from public.workflows as w where w.id = new.workflow_id;
  if not found then
    raise exception 'workflow % not found', new.workflow_id
      using errcode = '23503', hint = 'An execution must belong to an existing workflow.';
  end if;
  return new;
end;
$$;
comment on function private.set_execution_owner() is
  'Trigger: copies the owning user_id from the execution''s workflow.';
revoke all on function private.set_execution_owner() from public;

create trigger set_execution_owner
before insert or update of workflow_id, user_id on public.workflow_executions
for each row execute function private.set_execution_owner();

select private.secure_tenant_table('public.workflow_executions');
grant select on table public.workflow_executions to authenticated;
