-- Who may see and do what with workflows' runs: the owner reads her executions (and their
-- step results) and her manual runs, never writes an execution; another user and anon see
-- nothing; run_workflow starts only the caller's own active workflows on her own leads;
-- the internal tables and functions are the system's alone.
begin;
\ir _helpers.psql

select plan(30);

do $$
begin
  perform tests.create_user('alice');
  perform tests.create_user('mallory');
end;
$$;

create table tests.fixture as
select
  tests.insert_row('workflows', 'alice', '{"name": "Nurture", "trigger_config": {"type": "manual",
    "conditions": {"statuses": ["new"]}}, "action_config": {"steps": [{"type": "add_tag", "tag": "nurtured"}]}}') as flow,
  tests.insert_row('workflows', 'alice', '{"name": "Off", "is_active": false, "trigger_config": {"type": "manual"},
    "action_config": {"steps": [{"type": "add_tag", "tag": "x"}]}}') as off,
  tests.insert_row('leads', 'alice', '{"email": "ada@acme.com"}') as ada,
  tests.insert_row('leads', 'alice', '{"email": "won@acme.com", "status": "converted"}') as won,
  tests.insert_row('leads', 'mallory', '{"email": "mal@acme.com"}') as mal;
grant select on tests.fixture to authenticated, anon;

select columns_are('public', 'workflow_run_requests',
  array['id', 'user_id', 'workflow_id', 'lead_id', 'execution_id', 'created_at'],
  'workflow_run_requests has its columns');
select function_privs_are('public', 'run_workflow', array['uuid', 'uuid'], 'anon', array[]::text[],
  'anon may not execute run_workflow');
select function_privs_are('public', 'run_workflow', array['uuid', 'uuid'], 'authenticated', array['EXECUTE'],
  'authenticated may execute run_workflow');
select isnt_definer('public', 'run_workflow', array['uuid', 'uuid'], 'run_workflow runs as its caller');

-- ==== acting as alice ====
select tests.authenticate_as('alice');
select lives_ok($$select public.run_workflow((select flow from tests.fixture), (select ada from tests.fixture))$$,
  'alice runs her workflow on her lead');
select * from tests.affects($$select id, step_results from public.workflow_executions$$, 1,
  'alice reads her execution and its step results');
select * from tests.affects($$select id from public.workflow_run_requests where execution_id is not null$$, 1,
  'alice reads her manual run, which names its execution');
select throws_ok(
  $$select public.run_workflow((select flow from tests.fixture), (select won from tests.fixture))$$,
  '55000', format('lead %s does not meet the conditions of workflow "Nurture"', (select won from tests.fixture)),
  'a lead that does not meet the workflow''s conditions is refused');
select throws_ok(
  $$select public.run_workflow((select off from tests.fixture), (select ada from tests.fixture))$$,
  '55000', 'workflow "Off" is inactive', 'an inactive workflow is refused');
select throws_ok(
  $$select public.run_workflow((select flow from tests.fixture), (select mal from tests.fixture))$$,
  'P0002', format('lead %s not found', (select mal from tests.fixture)), 'mallory''s lead is not found');
select throws_ok(
  $$select public.run_workflow((select flow from tests.fixture), null)$$,
  '23502', 'a manual run needs a lead', 'a run needs a lead');
select throws_ok(
  $$insert into public.workflow_executions (workflow_id) select flow from tests.fixture$$,
  '42501', null, 'alice cannot write an execution herself');
select throws_ok($$update public.workflow_executions set status = 'completed'$$, '42501', null,
  'alice cannot complete an execution herself');
select throws_ok($$update public.workflow_executions set step_results = '[]'$$, '42501', null,
  'alice cannot rewrite step results');
select throws_ok($$delete from public.workflow_executions$$, '42501', null, 'alice cannot delete an execution');
select throws_ok(
  $$insert into public.workflow_run_requests (workflow_id, lead_id, execution_id)
    select flow, ada, gen_random_uuid() from tests.fixture$$,
  '42501', null, 'alice cannot name the execution of a run herself');
select throws_ok($$update public.workflow_run_requests set lead_id = null$$, '42501', null,
  'alice cannot rewrite a manual run');

-- ==== acting as mallory ====
select tests.authenticate_as('mallory');
select * from tests.affects($$select id from public.workflow_executions$$, 0, 'mallory sees none of alice''s executions');
select * from tests.affects($$select id from public.workflow_run_requests$$, 0, 'nor her manual runs');
select throws_ok(
  $$select public.run_workflow((select flow from tests.fixture), (select mal from tests.fixture))$$,
  'P0002', format('workflow %s not found', (select flow from tests.fixture)),
  'mallory cannot run alice''s workflow, even on her own lead');
select throws_ok(
  $$insert into public.workflow_run_requests (user_id, workflow_id, lead_id)
    select tests.get_user_id('alice'), flow, ada from tests.fixture$$,
  '42501', null, 'mallory cannot file a run as alice');

-- ==== acting as a visitor ====
select tests.authenticate_as_anon();
select throws_ok($$select * from public.workflow_executions$$, '42501', null, 'anon cannot read executions');
select throws_ok($$select public.run_workflow((select flow from tests.fixture), (select ada from tests.fixture))$$,
  '42501', null, 'anon cannot run workflows');

select tests.clear_authentication();

-- The system's own tables and functions --------------------------------------------------------
select ok(
  not exists (
    select
    from unnest(array['private.workflow_triggers', 'private.workflow_runs', 'private.webhook_queue',
                      'private.applied_scoring_rules', 'private.scoring_rescores', 'private.lead_engagement']) as t,
         unnest(array['anon', 'authenticated', 'service_role']) as r
    where has_table_privilege(r, t, 'SELECT, INSERT, UPDATE, DELETE')),
  'no API role may touch the private tables of scoring and workflows');
select is_empty(
  $$select p.oid::regprocedure::text
    from pg_proc as p
    where p.pronamespace = 'private'::regnamespace
      and (has_function_privilege('authenticated', p.oid, 'EXECUTE') or has_function_privilege('anon', p.oid, 'EXECUTE'))$$,
  'no private function is executable by anon or authenticated');
select is_empty(
  $$select p.oid::regprocedure::text
    from pg_proc as p
    where p.pronamespace = 'private'::regnamespace and p.prosecdef
      and p.proname in ('rescore_leads', 'apply_scoring_changes', 'decay_engagement', 'qualify_leads',
        'lead_profile_points', 'event_lead_id', 'lead_matches', 'start_workflow_executions',
        'fire_scheduled_workflows', 'run_workflow_batch', 'run_workflow_execution', 'claim_webhooks',
        'complete_webhooks')$$,
  'the scoring and workflow functions run as their caller (postgres); only their triggers are security definer');

-- ==== acting as alice: her execution ran ====
do $$ begin perform private.run_workflow_batch(1000); end; $$;
select tests.authenticate_as('alice');
select is((select status from public.workflow_executions), 'completed', 'alice sees her execution completed');
select is((select tags from public.leads where email = 'ada@acme.com'), array['nurtured'], 'and its effect');
select tests.clear_authentication();

-- Deleting the workflow deletes its manual runs with it; deleting a lead keeps the run.
delete from public.leads where id = (select ada from tests.fixture);
select is((select count(*)::integer from public.workflow_run_requests where lead_id is null), 1,
  'deleting the lead keeps the record of the run');
delete from public.workflows where id = (select flow from tests.fixture);
select is_empty('select from public.workflow_run_requests', 'deleting the workflow deletes its runs');

select * from finish();
rollback;
