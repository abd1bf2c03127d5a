-- workflows: "when this happens, do these steps", owned by a user. The configs are
-- checked here for their outline only; the workflow engine validates the details.

create table public.workflows (
  id uuid primary key default gen_random_uuid(),
  user_id uuid not null default auth.uid() references auth.users (id) on delete cascade,
  name text not null,
  description text,
  trigger_config jsonb not null,
  action_config jsonb not null,
  is_active boolean not null default true,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  constraint workflows_name_check check (name ~ '\S' and length(name) <= 200),
  constraint workflows_description_check check (length(description) <= 5000),
  -- coalesce: a missing key makes jsonb_typeof null, and a null check would pass.
  constraint workflows_trigger_config_check check (
    coalesce(jsonb_typeof(trigger_config -> 'type') = 'string', false)
  ),
  constraint workflows_action_config_check check (
    coalesce(jsonb_typeof(action_config -> 'steps') = 'array', false)
  ),
  -- Target of workflow_executions' (workflow_id, user_id) key.
  constraint workflows_id_user_id_key unique (id, user_id)
);
comment on table public.workflows is
  'Trigger/action automations: trigger_config {"type": ...}, action_config {"steps": [...]}.';

create index workflows_user_id_created_at_idx on public.workflows (user_id, created_at desc);

create trigger set_updated_at
before update on public.workflows
for each row execute function private.set_updated_at();

select private.secure_tenant_table('public.workflows');
grant select, insert, update, delete on table public.workflows to authenticated;
