-- Triggers: updated_at is stamped on every update of the seven tables that have it (and
-- cannot be forged), and a workflow execution always belongs to its workflow's owner.
-- (The lead scoring trigger has its own file, 06_scoring.)
begin;
\ir _helpers.psql

select plan(20);

do $$
begin
  perform tests.create_user('alice');
  perform tests.create_user('mallory');
end;
$$;

-- updated_at ----------------------------------------------------------------------------

select is(
  (select pg_get_triggerdef(t.oid) from pg_trigger as t
   where t.tgrelid = to_regclass('public.' || tbl) and t.tgname = 'set_updated_at'),
  format('CREATE TRIGGER set_updated_at BEFORE UPDATE ON public.%s FOR EACH ROW EXECUTE FUNCTION private.set_updated_at()',
    tbl),
  format('%s has the set_updated_at trigger, before update, per row', tbl)
)
from unnest(array[
  'campaigns', 'leads', 'content', 'social_connections', 'email_campaigns', 'user_secrets', 'workflows'
]) with ordinality as t (tbl, n)
order by n;

-- A row last touched in 2000 is updated by its owner (or, for user_secrets, by the
-- service that writes them), who also tries to set updated_at: it becomes now().
create function tests.stamps_updated_at(tbl text, set_clause text, actor text)
returns text
language plpgsql
as $$
declare
  row_id constant uuid := tests.insert_row(tbl, 'alice', '{"updated_at": "2000-01-01T00:00:00Z"}');
  stamped timestamptz;
  description constant text := format('%s.updated_at becomes now() when %s updates a row', tbl, actor);
begin
  begin
    if actor = 'service_role' then
      perform tests.authenticate_as_service_role();
      execute format('update public.%I set %s, updated_at = %L where id = %L', tbl, set_clause, '1999-01-01', row_id);
    else
      perform tests.authenticate_as(actor);
      execute format('update public.%I set %s where id = %L', tbl, set_clause, row_id);
    end if;
  exception when others then
    perform tests.clear_authentication();
    return fail(description) || E'\n' || diag(format('the update raised %s: %s', sqlstate, sqlerrm));
  end;
  perform tests.clear_authentication();
  execute format('select updated_at from public.%I where id = %L', tbl, row_id) into stamped;
  return is(stamped, now(), description);
end;
$$;

select tests.stamps_updated_at('campaigns', 'name = ''Renamed''', 'alice');
select tests.stamps_updated_at('leads', 'first_name = ''Ann''', 'alice');
select tests.stamps_updated_at('content', 'title = ''Renamed''', 'alice');
select tests.stamps_updated_at('social_connections', 'is_active = false', 'alice');
select tests.stamps_updated_at('email_campaigns', 'subject = ''Renamed''', 'alice');
select tests.stamps_updated_at('user_secrets', 'encrypted_value = ''rotated''', 'service_role');
select tests.stamps_updated_at('workflows', 'name = ''Renamed''', 'alice');

-- workflow_executions.user_id ------------------------------------------------------------

select trigger_is('public', 'workflow_executions', 'set_execution_owner', 'private', 'set_execution_owner',
  'workflow_executions has the set_execution_owner trigger');

create table tests.workflows as
select tests.insert_row('workflows', 'alice') as alice_workflow, tests.insert_row('workflows', 'mallory') as mallory_workflow;
create table tests.executions (name text, id uuid);
grant select, insert on tests.workflows, tests.executions to service_role;

-- The service records runs; how it names the owner does not matter.
select tests.authenticate_as_service_role();
insert into tests.executions
select 'no user_id', tests.insert_row('workflow_executions', null,
  jsonb_build_object('workflow_id', (select alice_workflow from tests.workflows)));
insert into tests.executions
select 'filed under mallory', tests.insert_row('workflow_executions', 'mallory',
  jsonb_build_object('workflow_id', (select alice_workflow from tests.workflows)));

select is(
  (select user_id from public.workflow_executions
   where id = (select id from tests.executions where name = 'no user_id')),
  tests.get_user_id('alice'),
  'an execution inserted without user_id belongs to its workflow''s owner'
);
select is(
  (select user_id from public.workflow_executions
   where id = (select id from tests.executions where name = 'filed under mallory')),
  tests.get_user_id('alice'),
  'an execution of alice''s workflow inserted with mallory''s user_id still belongs to alice'
);

update public.workflow_executions
set workflow_id = (select mallory_workflow from tests.workflows)
where id = (select id from tests.executions where name = 'filed under mallory');
select is(
  (select user_id from public.workflow_executions
   where id = (select id from tests.executions where name = 'filed under mallory')),
  tests.get_user_id('mallory'),
  'moving an execution to mallory''s workflow moves it to mallory'
);

-- Pointing the owner elsewhere either fails or is undone; either way it stays mallory's.
do $$
begin
  update public.workflow_executions
  set user_id = tests.get_user_id('alice')
  where id = (select id from tests.executions where name = 'filed under mallory');
exception when foreign_key_violation then
  null;
end;
$$;
select is(
  (select user_id from public.workflow_executions
   where id = (select id from tests.executions where name = 'filed under mallory')),
  tests.get_user_id('mallory'),
  'an execution''s user_id cannot be set apart from its workflow''s owner'
);

select tests.clear_authentication();
select is_empty(
  $$select e.id from public.workflow_executions as e join public.workflows as w on w.id = e.workflow_id
    where e.user_id <> w.user_id$$,
  'every execution belongs to its workflow''s owner'
);

select * from finish();
rollback;
