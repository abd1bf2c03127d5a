-- lead_status_history: every change of a lead's status, from what to what, when, and by
-- whom: the signed-in user (changed_by), the service, the system (e.g. an import run as
-- postgres), the qualification threshold, or a workflow (workflow_id, execution_id).
-- A lead's initial status is not a change: its first row's from_status tells it.
-- Written by a trigger in the statement that changes the status; the owner reads it and
-- cannot add, change or remove a row.
--
-- Beacon's own code says why it changes a status through settings local to its
-- transaction, set only around the statement that makes the change:
--   beacon.change_reason   score_threshold | workflow
--   beacon.workflow_id, beacon.execution_id   the workflow step making the change

create table public.lead_status_history (
  id uuid primary key default gen_random_uuid(),
  user_id uuid not null default auth.uid() references auth.users (id) on delete cascade,
  lead_id uuid not null references public.leads (id) on delete cascade,
  from_status text not null,
  to_status text not null,
  reason text not null,
  changed_by uuid,
  workflow_id uuid,
  execution_id uuid,
  changed_at timestamptz not null default now(),
  constraint lead_status_history_reason_check
    check (reason in ('user', 'service', 'system', 'score_threshold', 'workflow')),
  constraint lead_status_history_workflow_check check ((reason = 'workflow') = (workflow_id is not null))
);
comment on table public.lead_status_history is
  'Every status change of a lead: from, to, when, and by whom (user, service, system, score_threshold or workflow).';
comment on column public.lead_status_history.reason is
  'user (changed_by), service, system, score_threshold (the owner''s qualification threshold) or workflow (workflow_id).';
comment on column public.lead_status_history.changed_by is 'The signed-in user who made the change, if one did.';
comment on column public.lead_status_history.workflow_id is 'The workflow whose step made the change; kept when the workflow is deleted.';

create index lead_status_history_lead_id_changed_at_idx on public.lead_status_history (lead_id, changed_at desc);
create index lead_status_history_user_id_changed_at_idx on public.lead_status_history (user_id, changed_at desc);

select private.secure_tenant_table('public.lead_status_history');
grant select on table public.lead_status_history to authenticated;

-- Security definer: clients change statuses, and may not write the history themselves.
create function private.record_lead_status_changes()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
declare
  context_reason constant text := nullif(current_setting('beacon.change_reason', true), '');
  by_user constant uuid := auth.uid();
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
    case when context_reason = 'workflow' then nullif(current_setting('beacon.execution_id', true), '')::uuid end
  from new_leads as n
  join old_leads as o on o.id = n.id
  where n.status is distinct from o.status;
  return null;
end;
$$;
comment on function private.record_lead_status_changes() is
  'Trigger (after update, per statement): records each lead whose status changed in lead_status_history.';
revoke all on function private.record_lead_status_changes() from public, anon, authenticated, service_role;

create trigger lead_status_history
after update on public.leads
referencing old table as old_leads new table as new_leads
for each statement execute function private.record_lead_status_changes();
