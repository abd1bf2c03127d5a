-- The private schema: internal helpers that PostgREST never exposes, and the one place
-- that defines what "a tenant table" means (RLS plus the four owner policies).

create schema private;
comment on schema private is 'Beacon internals: helpers, queues and state that apps never call directly.';
-- Nobody but the owner (postgres) may use it; triggers that need it run as security definer.
revoke all on schema private from public, anon, authenticated, service_role;

create function private.set_updated_at()
returns trigger
language plpgsql
set search_path = ''
as $$
begin
  new.updated_at := now();
  return new;
end;
$$;
comment on function private.set_updated_at() is 'Trigger: stamps updated_at on every update.';

-- Every table in public is a tenant table: rows belong to auth.users through user_id, and
-- the signed-in owner is the only one who may touch them. Granting privileges stays with
-- each table's migration, since which columns a client may read or write differs per table.
create function private.secure_tenant_table(tbl regclass)
returns void
language plpgsql
set search_path = ''
as $$
declare
  owner_check constant text := 'user_id = (select auth.uid())';
begin
  execute format('alter table %s enable row level security', tbl);
  execute format('revoke all on table %s from public, anon, authenticated, service_role', tbl);
  execute format('create policy "owner can select" on %s for select to authenticated using (%s)', tbl, owner_check);
  execute format('create policy "owner can insert" on %s for insert to authenticated with check (%s)', tbl, owner_check);
  execute format('create policy "owner can update" on %s for update to authenticated using (%s) with check (%s)', tbl, owner_check, owner_check);
  execute format('create policy "owner can delete" on %s for delete to authenticated using (%s)', tbl, owner_check);
  execute format('grant select, insert, update, delete on table %s to service_role', tbl);
end;
$$;
comment on function private.secure_tenant_table(regclass) is
  'Migration helper: enables RLS on a tenant table and creates its four owner-only policies.';

revoke all on function private.set_updated_at(), private.secure_tenant_table(regclass) from public;
