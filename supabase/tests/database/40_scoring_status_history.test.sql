-- Lead status history: every status change is recorded with from, to, when and by whom: the
-- signed-in user (changed_by), the service, the system (postgres), the qualification
-- threshold or a workflow (workflow_id, execution_id). The owner reads her leads' history;
-- another user and anon cannot; no client can write it.
begin;
\ir _helpers.psql

select plan(20);

do $$
begin
  perform tests.create_user('alice');
  perform tests.create_user('mallory');
end;
$$;

select columns_are('public', 'lead_status_history',
  array['id', 'user_id', 'lead_id', 'from_status', 'to_status', 'reason', 'changed_by', 'workflow_id', 'execution_id',
        'changed_at'],
  'lead_status_history has its columns');
select table_privs_are('public', 'lead_status_history', 'authenticated', array['SELECT'],
  'authenticated may only select the history');
select table_privs_are('public', 'lead_status_history', 'anon', array[]::text[], 'anon has no privilege on it');

create table tests.fixture as
select
  tests.insert_row('leads', 'alice', '{"email": "ada@acme.com"}') as ada,
  tests.insert_row('leads', 'mallory', '{"email": "mal@acme.com"}') as mal,
  tests.insert_row('workflows', 'alice', '{"name": "Contact them", "trigger_config": {"type": "manual"},
    "action_config": {"steps": [{"type": "set_status", "status": "contacted"}]}}') as contact;
grant select on tests.fixture to authenticated, anon;

select is_empty($$select from public.lead_status_history where user_id in (tests.get_user_id('alice'), tests.get_user_id('mallory'))$$,
  'creating a lead records no change');

-- ==== acting as alice ====
select tests.authenticate_as('alice');
update public.leads set status = 'qualified' where email = 'ada@acme.com';
update public.leads set first_name = 'Ada' where email = 'ada@acme.com';
update public.leads set status = 'qualified' where email = 'ada@acme.com';
select tests.clear_authentication();
select is(
  (select string_agg(h.from_status || ' -> ' || h.to_status || ' by ' || h.reason, ', ') from public.lead_status_history as h
   where h.user_id = tests.get_user_id('alice')),
  'new -> qualified by user', 'alice''s change is recorded once; an update that keeps the status records nothing');
select is((select changed_by from public.lead_status_history where user_id = tests.get_user_id('alice')),
  tests.get_user_id('alice'), 'changed_by is alice');
select is((select changed_at from public.lead_status_history where user_id = tests.get_user_id('alice')), now(),
  'changed_at is when');

-- The workflow makes a change.
select tests.authenticate_as('alice');
select lives_ok($$select public.run_workflow((select contact from tests.fixture), (select ada from tests.fixture))$$,
  'alice runs a workflow on ada');
select tests.clear_authentication();
do $$ begin perform private.run_workflow_batch(1000); end; $$;
select is(
  (select h.from_status || ' -> ' || h.to_status || ' by ' || h.reason || ' ' || (h.workflow_id = f.contact)::text
          || ' ' || (h.execution_id = e.id)::text || ' ' || coalesce(h.changed_by::text, 'nobody')
   from public.lead_status_history as h, tests.fixture as f, public.workflow_executions as e
   where h.reason = 'workflow' and e.workflow_id = f.contact and h.user_id = tests.get_user_id('alice')),
  'qualified -> contacted by workflow true true nobody',
  'a workflow''s change names the workflow and the execution');

-- The service, and postgres (an import or an operator).
select tests.authenticate_as_service_role();
update public.leads set status = 'converted' where email = 'ada@acme.com';
select tests.clear_authentication();
update public.leads set status = 'lost' where email = 'ada@acme.com';
select is(
  (select string_agg(h.from_status || ' -> ' || h.to_status || ' by ' || h.reason, ', ' order by h.to_status)
   from public.lead_status_history as h where h.reason in ('service', 'system') and h.user_id = tests.get_user_id('alice')),
  'contacted -> converted by service, converted -> lost by system', 'the service and the system are told apart');

-- A bulk change records one row per lead that changed.
insert into public.leads (user_id, email) select tests.get_user_id('alice'), 'bulk' || n || '@acme.com' from generate_series(1, 3) as n;
update public.leads set status = 'contacted' where email like 'bulk%' or email = 'ada@acme.com';
select is((select count(*)::integer from public.lead_status_history where to_status = 'contacted' and reason = 'system'
           and user_id = tests.get_user_id('alice')), 4,
  'one statement changing four statuses records four rows');

-- ==== acting as alice: reading ====
select tests.authenticate_as('alice');
select * from tests.affects($$select id from public.lead_status_history$$, 8, 'alice reads her leads'' history');
select throws_ok(
  $$insert into public.lead_status_history (lead_id, from_status, to_status, reason)
    select ada, 'new', 'converted', 'user' from tests.fixture$$,
  '42501', null, 'alice cannot forge a history row');
select throws_ok($$update public.lead_status_history set to_status = 'converted'$$, '42501', null,
  'alice cannot rewrite her history');
select throws_ok($$delete from public.lead_status_history$$, '42501', null, 'alice cannot delete her history');

-- ==== acting as mallory ====
select tests.authenticate_as('mallory');
update public.leads set status = 'lost' where email = 'mal@acme.com';
select * from tests.affects($$select id from public.lead_status_history$$, 1, 'mallory reads only her own lead''s history');
select * from tests.affects(
  $$select id from public.lead_status_history where lead_id = (select ada from tests.fixture)$$, 0,
  'mallory reads none of alice''s');

-- ==== acting as a visitor ====
select tests.authenticate_as_anon();
select throws_ok($$select * from public.lead_status_history$$, '42501', null, 'anon cannot read any history');

select tests.clear_authentication();

select throws_ok(
  $$insert into public.lead_status_history (user_id, lead_id, from_status, to_status, reason)
    select tests.get_user_id('alice'), ada, 'new', 'qualified', 'workflow' from tests.fixture$$,
  '23514', null, 'a workflow row must name its workflow (lead_status_history_workflow_check)');

delete from public.leads where email = 'ada@acme.com';
select is_empty($$select from public.lead_status_history where lead_id = (select ada from tests.fixture)$$,
  'deleting a lead deletes its history');

select * from finish();
rollback;
