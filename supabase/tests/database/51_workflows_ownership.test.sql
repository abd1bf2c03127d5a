-- The workflow code that runs as the system (security definer) checks whose row it is before
-- it reads anything: a manual run of a workflow or on a lead that is not yours fails with the
-- very error of one that does not exist; a workflow or run request filed as another owner
-- is refused by row-level security before the validator or the run reads any of that
-- owner's workflows, leads or content.
begin;
\ir _helpers.psql

select plan(9);

do $$
begin
  perform tests.create_user('alice');
  perform tests.create_user('mallory');
end;
$$;

create table tests.fixture as
select
  tests.insert_row('workflows', 'alice', '{"name": "Secret plan", "is_active": false, "trigger_config": {"type": "manual",
    "conditions": {"statuses": ["qualified"]}}, "action_config": {"steps": [{"type": "add_tag", "tag": "x"}]}}') as flow,
  tests.insert_row('leads', 'alice', '{"email": "ada@acme.com"}') as ada,
  tests.insert_row('content', 'alice') as content,
  tests.insert_row('workflows', 'mallory', '{"name": "Mine", "trigger_config": {"type": "manual"},
    "action_config": {"steps": [{"type": "add_tag", "tag": "x"}]}}') as own_flow,
  tests.insert_row('leads', 'mallory', '{"email": "mal@evil.example"}') as own_lead;
grant select on tests.fixture to authenticated;

-- The error a statement raises, as "SQLSTATE: message" (null if none).
create function tests.error_of(statement text)
returns text
language plpgsql
as $$
begin
  execute statement;
  return null;
exception when others then
  return sqlstate || ': ' || sqlerrm;
end;
$$;
create table tests.errors (name text primary key, error text);
grant select, insert on tests.errors to authenticated;

-- ==== acting as mallory, while alice's rows exist ====
select tests.authenticate_as('mallory');
insert into tests.errors
select 'run alice''s workflow', tests.error_of(format('select public.run_workflow(%L, %L)', flow, own_lead))
from tests.fixture;
insert into tests.errors
select 'run on alice''s lead', tests.error_of(format('select public.run_workflow(%L, %L)', own_flow, ada))
from tests.fixture;
insert into tests.errors
select 'file as alice', tests.error_of(format(
  'insert into public.workflow_run_requests (user_id, workflow_id, lead_id) values (%L, %L, %L)',
  tests.get_user_id('alice'), flow, ada))
from tests.fixture;
insert into tests.errors
select 'workflow as alice', tests.error_of(format(
  'insert into public.workflows (user_id, name, trigger_config, action_config) values (%L, %L, %L, %L)',
  tests.get_user_id('alice'), 'Probe', '{"type": "manual"}',
  jsonb_build_object('steps', jsonb_build_array(jsonb_build_object('type', 'send_email', 'content_id', content)))))
from tests.fixture;
select tests.clear_authentication();

-- ==== the same requests once alice's rows are gone ====
delete from public.workflows where id = (select flow from tests.fixture);
delete from public.leads where id = (select ada from tests.fixture);
delete from public.content where id = (select content from tests.fixture);
select tests.authenticate_as('mallory');

select is(
  tests.error_of(format('select public.run_workflow(%L, %L)', (select flow from tests.fixture), (select own_lead from tests.fixture))),
  (select error from tests.errors where name = 'run alice''s workflow'),
  'running another owner''s workflow fails exactly as running one that does not exist');
select is((select error from tests.errors where name = 'run alice''s workflow'),
  format('P0002: workflow %s not found', (select flow from tests.fixture)),
  'that error says only "not found" (not the workflow''s name, that it is inactive, or its conditions)');
select is(
  tests.error_of(format('select public.run_workflow(%L, %L)', (select own_flow from tests.fixture), (select ada from tests.fixture))),
  (select error from tests.errors where name = 'run on alice''s lead'),
  'a run on another owner''s lead fails exactly as on a lead that does not exist');
select is((select error from tests.errors where name = 'run on alice''s lead'),
  format('P0002: lead %s not found', (select ada from tests.fixture)), 'which is "not found"');
select is(
  tests.error_of(format(
    'insert into public.workflow_run_requests (user_id, workflow_id, lead_id) values (%L, %L, %L)',
    tests.get_user_id('alice'), (select flow from tests.fixture), (select ada from tests.fixture))),
  (select error from tests.errors where name = 'file as alice'),
  'a run request filed as alice gets the same refusal whether or not her workflow and lead exist');
select is((select error from tests.errors where name = 'file as alice'),
  '42501: new row violates row-level security policy for table "workflow_run_requests"',
  'which is row-level security''s');
select is(
  tests.error_of(format(
    'insert into public.workflows (user_id, name, trigger_config, action_config) values (%L, %L, %L, %L)',
    tests.get_user_id('alice'), 'Probe', '{"type": "manual"}',
    jsonb_build_object('steps', jsonb_build_array(jsonb_build_object('type', 'send_email',
      'content_id', (select content from tests.fixture)))))),
  (select error from tests.errors where name = 'workflow as alice'),
  'a workflow filed as alice naming her content gets the same refusal whether or not the content exists');
select is((select error from tests.errors where name = 'workflow as alice'),
  '42501: new row violates row-level security policy for table "workflows"',
  'which is row-level security''s, not the validator''s');
select tests.clear_authentication();

select is_empty(
  $$select from public.workflow_executions where user_id = tests.get_user_id('alice')$$,
  'nothing was started for alice');

select * from finish();
rollback;
