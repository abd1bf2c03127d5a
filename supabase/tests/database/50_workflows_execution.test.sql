-- Executions run asynchronously and fail alone: the app's write only records them; the
-- worker claims due runs with skip locked and runs each execution's steps in its own
-- subtransaction, so a failing step undoes that execution's changes and fails it
-- (error_message naming the step, completed_at) while the others complete. An execution
-- whose workflow was deactivated fails without running; one whose lead was deleted fails;
-- deleting a workflow leaves no queued work behind. The app's write never fails because of
-- a workflow.
begin;
\ir _helpers.psql

select plan(24);

do $$
begin
  perform tests.create_user('alice');
end;
$$;

create function tests.execution(workflow text, address text)
returns public.workflow_executions
language sql
as $$
  select e.*
  from public.workflow_executions as e
  join public.workflows as w on w.id = e.workflow_id
  join public.leads as l on l.id = (e.trigger_data ->> 'lead_id')::uuid
  where w.name = workflow and l.email = address
$$;

-- A workflow whose second step fails for a lead that already holds the 100 tags a lead may
-- have (leads_tags_check), and another that works on every lead.
do $$
begin
  perform tests.workflow('tagger', '{"type": "lead_created"}',
    '[{"type": "set_field", "key": "touched", "value": true}, {"type": "add_tag", "tag": "one more"},
      {"type": "set_status", "status": "qualified"}]');
  perform tests.workflow('observer', '{"type": "lead_created"}', '[{"type": "adjust_score", "points": 1}]');
end;
$$;

-- ==== acting as alice: the app's inserts succeed whatever the workflows will do ====
select tests.authenticate_as('alice');
select lives_ok(
  $$insert into public.leads (email, tags)
    values ('ok@acme.com', '{}'),
           ('full@acme.com', (select array_agg('t' || n) from generate_series(1, 100) as n))$$,
  'alice inserts two leads; one of them will make a workflow step fail');
select tests.clear_authentication();
-- What beacon-lead-changes does within a second of the insert.
select tests.expand_lead_changes();
select is(
  (select array_agg(distinct status) from public.workflow_executions where user_id = tests.get_user_id('alice')),
  array['running'],
  'the insert only recorded the executions, all running');

select tests.work();

select is((tests.execution('tagger', 'ok@acme.com')).status, 'completed', 'the execution whose steps work completes');
select is(
  (select e.status || ' | ' || e.error_message from tests.execution('tagger', 'full@acme.com') as e),
  'failed | steps[1] (add_tag): new row for relation "leads" violates check constraint "leads_tags_check"',
  'the one whose step fails is failed, its error naming the step');
select ok((tests.execution('tagger', 'full@acme.com')).completed_at is not null, 'a failed execution has completed_at');
select is(
  (select custom_fields from public.leads where email = 'full@acme.com'), '{}'::jsonb,
  'the failed execution''s earlier step is undone');
select is((select status from public.leads where email = 'full@acme.com'), 'new', 'and its later steps never ran');
select is(
  (select array_agg((r ->> 'step') || ' ' || (r ->> 'status')) from tests.execution('tagger', 'full@acme.com') as e,
   jsonb_array_elements(e.step_results) as r),
  array['1 failed'], 'its step results keep the failure');
select is((tests.execution('observer', 'full@acme.com')).status, 'completed',
  'another workflow''s execution on the same lead is not affected');
select is((select score from public.leads where email = 'full@acme.com'), 1, 'and its step stands');
select is_empty('select from private.workflow_runs as r join public.workflows as w on w.id = r.workflow_id
                 where w.user_id = tests.get_user_id(''alice'')',
  'finished executions leave no run behind');

-- Deactivated meanwhile ---------------------------------------------------------------------
do $$
begin
  perform tests.workflow('paused later', '{"type": "lead_created"}', '[{"type": "add_tag", "tag": "ran"}]');
end;
$$;
insert into public.leads (user_id, email) values (tests.get_user_id('alice'), 'late@acme.com');
select tests.expand_lead_changes();
update public.workflows set is_active = false where name = 'paused later';
select tests.work();
select is(
  (select e.status || ' | ' || e.error_message from tests.execution('paused later', 'late@acme.com') as e),
  'failed | the workflow was deactivated before this execution finished',
  'an execution of a workflow deactivated before it ran fails without running');
select ok((select not 'ran' = any (tags) from public.leads where email = 'late@acme.com'), 'its steps did not run');
insert into public.leads (user_id, email) values (tests.get_user_id('alice'), 'later@acme.com');
select tests.expand_lead_changes();
select is_empty($$select from public.workflow_executions as e join public.workflows as w on w.id = e.workflow_id
                  where w.name = 'paused later' and e.trigger_data ->> 'lead_id' =
                    (select id::text from public.leads where email = 'later@acme.com')$$,
  'an inactive workflow does not fire');

-- The lead is deleted before its execution runs -------------------------------------------
insert into public.leads (user_id, email) values (tests.get_user_id('alice'), 'gone@acme.com');
select tests.expand_lead_changes();
create table tests.gone as select id from public.leads where email = 'gone@acme.com';
delete from public.leads where email = 'gone@acme.com';
select tests.work();
select is(
  (select e.status || ' | ' || e.error_message from public.workflow_executions as e
   join public.workflows as w on w.id = e.workflow_id
   where w.name = 'tagger' and e.trigger_data ->> 'lead_id' = (select id::text from tests.gone)),
  format('failed | steps[0] (set_field): the lead %s no longer exists', (select id from tests.gone)),
  'an execution whose lead was deleted fails, saying so');

-- Deleting a workflow leaves no queued work ----------------------------------------------
do $$
begin
  perform tests.workflow('waits and hooks', '{"type": "lead_created"}',
    '[{"type": "webhook", "url": "https://hooks.example.com/a"}, {"type": "wait", "duration": "1 day"}]');
  perform tests.workflow('waits', '{"type": "lead_created"}', '[{"type": "wait", "duration": "1 day"}]');
end;
$$;
insert into public.leads (user_id, email) select tests.get_user_id('alice'), 'q' || n || '@acme.com' from generate_series(1, 3) as n;
select tests.expand_lead_changes();
select tests.work();
select is(
  (select count(*)::integer from private.webhook_queue as q join public.workflow_executions as e on e.id = q.execution_id
   join public.workflows as w on w.id = e.workflow_id where w.name = 'waits and hooks'),
  3, 'three webhooks are queued');
select is(
  (select count(*)::integer from private.workflow_runs as r join public.workflows as w on w.id = r.workflow_id
   where w.name in ('waits and hooks', 'waits')),
  6, 'six executions are parked');
create table tests.deleted as select id from public.workflows where name = 'waits and hooks';
delete from public.workflows where name = 'waits and hooks';
select is_empty(
  $$select from public.workflow_executions where workflow_id = (select id from tests.deleted)$$,
  'deleting the workflow deletes its executions');
select is_empty(
  $$select from private.workflow_runs where workflow_id = (select id from tests.deleted)$$,
  'and their runs');
select is_empty(
  $$select from private.webhook_queue as q where not exists (select from public.workflow_executions as e where e.id = q.execution_id)$$,
  'and their queued webhooks');
select is_empty($$select from private.workflow_triggers where workflow_id = (select id from tests.deleted)$$,
  'and its compiled trigger');
select is(
  (select count(*)::integer from private.workflow_runs as r join public.workflows as w on w.id = r.workflow_id
   where w.name = 'waits'),
  3, 'the other workflow''s parked executions stay');

-- The worker's claim is skip locked; the job runs batches every minute.
select ok(
  (select prosrc ~* 'for update skip locked' from pg_proc where oid = 'private.claim_workflow_runs(integer)'::regprocedure),
  'the worker claims runs with for update skip locked');
select is((select schedule from cron.job where jobname = 'beacon-workflow-worker'), '* * * * *',
  'pg_cron runs the worker every minute (beacon-workflow-worker), in committed batches');

select * from finish();
rollback;
