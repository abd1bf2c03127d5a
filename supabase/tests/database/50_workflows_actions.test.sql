-- Every action step, run by the worker (private.run_workflow_batch): set_status (never
-- moving a lead back from contacted, converted or lost), add_tag, remove_tag, set_field,
-- adjust_score (ledgered), wait (a duration or a time: the execution parks until due),
-- condition (stop, or skip the next step), send_email (through the email pipeline: a
-- one-recipient email campaign, its delivery queued) and webhook (queued for the
-- dispatcher; the execution waits for its outcome). Each step's result is kept.
begin;
\ir _helpers.psql

select plan(47);

do $$
begin
  perform tests.create_user('alice');
  -- send_email steps may name senders on her verified domain.
  perform tests.verify_sending_domain('alice', 'acme.com');
end;
$$;

-- Starts a workflow on a lead (a manual run) and returns the execution.
create function tests.start(workflow text, address text)
returns uuid
language sql
as $$
  insert into public.workflow_run_requests (user_id, workflow_id, lead_id)
  select w.user_id, w.id, l.id
  from public.workflows as w, public.leads as l
  where w.name = workflow and l.email = address
  returning execution_id
$$;
create function tests.lead(address text)
returns public.leads
language sql
as $$
  select l.* from public.leads as l where l.email = address
$$;
create function tests.execution(id uuid)
returns public.workflow_executions
language sql
as $$
  select e.* from public.workflow_executions as e where e.id = execution.id
$$;
-- The results of an execution's steps, as "step type status" strings.
create function tests.steps(id uuid)
returns text[]
language sql
as $$
  select array_agg((r ->> 'step') || ' ' || (r ->> 'type') || ' ' || (r ->> 'status') order by n)
  from public.workflow_executions as e, jsonb_array_elements(e.step_results) with ordinality as x (r, n)
  where e.id = steps.id
$$;
create table tests.runs (name text primary key, id uuid);

insert into public.leads (user_id, email, status, tags, custom_fields)
select tests.get_user_id('alice'), email, status, '{cold}', '{"trial": true}'
from (values ('ada@acme.com', 'new'), ('met@acme.com', 'contacted'), ('won@acme.com', 'converted'),
             ('gone@acme.com', 'lost'), ('qual@acme.com', 'qualified')) as v (email, status);

-- Lead fields --------------------------------------------------------------------------------

do $$
begin
  perform tests.workflow('fields', steps => '[
    {"type": "set_status", "status": "qualified"},
    {"type": "add_tag", "tag": "hot"},
    {"type": "add_tag", "tag": "hot"},
    {"type": "remove_tag", "tag": "cold"},
    {"type": "set_field", "key": "plan", "value": {"tier": "pro", "seats": 3}},
    {"type": "set_field", "key": "trial", "value": null},
    {"type": "adjust_score", "points": 25}]');
end;
$$;
insert into tests.runs values ('fields', tests.start('fields', 'ada@acme.com'));
select is((tests.execution((select id from tests.runs where name = 'fields'))).status, 'running',
  'a started execution is running until the worker gets to it');
select tests.work();
select is((tests.execution((select id from tests.runs where name = 'fields'))).status, 'completed', 'then it completes');
select ok((tests.execution((select id from tests.runs where name = 'fields'))).completed_at is not null, 'with completed_at');
select is((tests.lead('ada@acme.com')).status, 'qualified', 'set_status sets the status');
select is((tests.lead('ada@acme.com')).tags, array['hot'], 'add_tag adds a tag once; remove_tag removes one');
select is((tests.lead('ada@acme.com')).custom_fields, '{"plan": {"tier": "pro", "seats": 3}}'::jsonb,
  'set_field sets a custom field to any JSON value; null removes it');
select is((tests.lead('ada@acme.com')).score, 25, 'adjust_score adds to the score');
select is(
  (select g.points || ' ' || g.source || ' ' || g.reason from public.lead_score_ledger as g
   where g.lead_id = (tests.lead('ada@acme.com')).id and g.source = 'workflow'),
  '25 workflow fields: step 6', 'adjust_score is ledgered as the workflow''s');
select is(tests.steps((select id from tests.runs where name = 'fields')),
  array['0 set_status done', '1 add_tag done', '2 add_tag unchanged', '3 remove_tag done', '4 set_field done',
        '5 set_field done', '6 adjust_score done'],
  'each step''s result is kept, unchanged ones said so');
select is(
  (select h.from_status || ' -> ' || h.to_status || ' by ' || h.reason from public.lead_status_history as h
   where h.lead_id = (tests.lead('ada@acme.com')).id),
  'new -> qualified by workflow', 'the status history says the workflow did it');

-- Never backwards -----------------------------------------------------------------------------

do $$
begin
  perform tests.workflow('back to new', steps => '[{"type": "set_status", "status": "new"}]');
  perform tests.workflow('to converted', steps => '[{"type": "set_status", "status": "converted"}]');
end;
$$;
insert into tests.runs
select 'back ' || a, tests.start('back to new', a)
from unnest(array['met@acme.com', 'won@acme.com', 'gone@acme.com', 'qual@acme.com']) as a;
insert into tests.runs
select 'convert ' || a, tests.start('to converted', a) from unnest(array['met@acme.com', 'gone@acme.com']) as a;
select tests.work();
select is(
  array[(tests.lead('met@acme.com')).status, (tests.lead('won@acme.com')).status, (tests.lead('gone@acme.com')).status],
  array['converted', 'converted', 'lost'],
  'a workflow never moves a lead back from contacted, converted or lost (contacted may go on to converted)');
select is((tests.lead('qual@acme.com')).status, 'new', 'a qualified lead may be set back to new');
select is(
  (select r ->> 'reason' from public.workflow_executions as e, jsonb_array_elements(e.step_results) as r
   where e.id = (select id from tests.runs where name = 'back won@acme.com')),
  'workflows never move a lead back from converted', 'the skipped step says why');
select is((tests.execution((select id from tests.runs where name = 'back gone@acme.com'))).status, 'completed',
  'a skipped step does not fail the execution');
select is(tests.steps((select id from tests.runs where name = 'convert gone@acme.com')),
  array['0 set_status skipped'], 'lost to converted is skipped too');

-- Waits ----------------------------------------------------------------------------------------

do $$
begin
  perform tests.workflow('waits', steps => '[
    {"type": "add_tag", "tag": "before"},
    {"type": "wait", "duration": "2 days"},
    {"type": "add_tag", "tag": "after two days"},
    {"type": "wait", "until": "2099-01-01T00:00:00Z"},
    {"type": "add_tag", "tag": "in 2099"}]');
end;
$$;
insert into tests.runs values ('waits', tests.start('waits', 'qual@acme.com'));
select tests.work();
select is((tests.execution((select id from tests.runs where name = 'waits'))).status, 'running',
  'a wait parks the execution: still running');
select is((tests.lead('qual@acme.com')).tags, array['cold', 'before'], 'the steps before the wait ran, not those after');
select is(
  (select r.run_after from private.workflow_runs as r where r.execution_id = (select id from tests.runs where name = 'waits')),
  now() + interval '2 days', 'it is due in two days');
select is(tests.steps((select id from tests.runs where name = 'waits')), array['0 add_tag done', '1 wait waiting'],
  'its results so far say it waits');
select tests.work();
select is((tests.lead('qual@acme.com')).tags, array['cold', 'before'], 'the worker does not run it before it is due');
-- Two days pass.
update private.workflow_runs set run_after = now() - interval '1 second'
where execution_id = (select id from tests.runs where name = 'waits');
select tests.work();
select is((tests.lead('qual@acme.com')).tags, array['cold', 'before', 'after two days'],
  'when due it resumes after the wait, and parks at the next');
select is(
  (select r.run_after from private.workflow_runs as r where r.execution_id = (select id from tests.runs where name = 'waits')),
  '2099-01-01T00:00:00Z'::timestamptz, 'a wait until a time parks until that time');
update private.workflow_runs set run_after = now() - interval '1 second'
where execution_id = (select id from tests.runs where name = 'waits');
select tests.work();
select is((tests.execution((select id from tests.runs where name = 'waits'))).status, 'completed',
  'after the last wait it completes');
select is(tests.steps((select id from tests.runs where name = 'waits')),
  array['0 add_tag done', '1 wait waiting', '2 add_tag done', '3 wait waiting', '4 add_tag done'],
  'every step''s result is kept across the waits');

-- Conditions -----------------------------------------------------------------------------------

do $$
begin
  perform tests.workflow('stop unless hot', steps => '[
    {"type": "condition", "conditions": {"tags": {"any": ["hot"]}}},
    {"type": "add_tag", "tag": "was hot"}]');
  perform tests.workflow('skip unless scored', steps => '[
    {"type": "condition", "conditions": {"min_score": 10}, "otherwise": "skip"},
    {"type": "add_tag", "tag": "scored"},
    {"type": "add_tag", "tag": "checked"}]');
end;
$$;
insert into tests.runs
select w || ' ' || a, tests.start(w, a)
from unnest(array['stop unless hot', 'skip unless scored']) as w, unnest(array['ada@acme.com', 'qual@acme.com']) as a;
select tests.work();
select is((tests.lead('ada@acme.com')).tags, array['hot', 'was hot', 'scored', 'checked'],
  'a met condition lets the steps after it run');
select is((tests.lead('qual@acme.com')).tags, array['cold', 'before', 'after two days', 'in 2099', 'checked'],
  'an unmet one stops the execution, or skips the next step');
select is(tests.steps((select id from tests.runs where name = 'stop unless hot qual@acme.com')),
  array['0 condition stopped'], 'a stop ends the execution there');
select is((tests.execution((select id from tests.runs where name = 'stop unless hot qual@acme.com'))).status, 'completed',
  'an execution stopped by a condition has completed');
select is(tests.steps((select id from tests.runs where name = 'skip unless scored qual@acme.com')),
  array['0 condition done', '1 add_tag skipped', '2 add_tag done'], 'a skip skips the next step only');

-- send_email -----------------------------------------------------------------------------------

create table tests.content as
select tests.insert_row('content', 'alice', '{"title": "Welcome aboard", "content_type": "email",
  "content": "<p>Hi {{first_name|there}}</p>"}') as id;
do $$
begin
  perform tests.workflow('mail', steps => jsonb_build_array(
    jsonb_build_object('type', 'send_email', 'content_id', (select id from tests.content)),
    '{"type": "send_email", "subject": "Inline", "body": "Just text", "from_name": "Alice", "reply_to": "a@acme.com"}'::jsonb));
end;
$$;
insert into tests.runs values ('mail', tests.start('mail', 'ada@acme.com'));
select tests.work();
select is((tests.execution((select id from tests.runs where name = 'mail'))).status, 'completed', 'send_email steps complete');
select is(
  (select array_agg(c.subject || ' | ' || c.status || ' | ' || coalesce(c.template_id = (select id from tests.content), false)
     || ' | ' || coalesce(c.reply_to, '-') order by c.subject desc)
   from public.email_campaigns as c
   where c.id in (select (r ->> 'email_campaign_id')::uuid from public.workflow_executions as e,
                  jsonb_array_elements(e.step_results) as r where e.id = (select id from tests.runs where name = 'mail'))),
  array['Welcome aboard | sending | true | -', 'Inline | sending | false | a@acme.com'],
  'each becomes a one-recipient email campaign that is sending: from the content row, or inline');
select is(
  (select array_agg(d.email || ' ' || d.status || ' ' || (d.lead_id = (tests.lead('ada@acme.com')).id))
   from public.email_deliveries as d
   where d.id in (select (r ->> 'delivery_id')::uuid from public.workflow_executions as e,
                  jsonb_array_elements(e.step_results) as r where e.id = (select id from tests.runs where name = 'mail'))),
  array['ada@acme.com queued true', 'ada@acme.com queued true'], 'each has its delivery to the lead, queued');
select is(
  (select count(*)::integer from private.email_queue as q join public.email_deliveries as d on d.id = q.delivery_id
   where d.lead_id = (tests.lead('ada@acme.com')).id),
  2, 'and in the email queue for the dispatcher');
insert into public.email_suppressions (user_id, email, reason) values (tests.get_user_id('alice'), 'met@acme.com', 'unsubscribed');
insert into tests.runs values ('mail suppressed', tests.start('mail', 'met@acme.com'));
select tests.work();
select is(
  (select array_agg(distinct d.status) from public.email_deliveries as d where d.email = 'met@acme.com'),
  array['suppressed'], 'a suppressed address is never queued');

-- webhook --------------------------------------------------------------------------------------

do $$
begin
  perform tests.workflow('hook', steps => '[
    {"type": "webhook", "url": "https://hooks.example.com/in", "payload": {"team": "growth"},
     "headers": {"X-Team": "growth"}},
    {"type": "add_tag", "tag": "hooked"}]');
end;
$$;
insert into tests.runs values ('hook', tests.start('hook', 'ada@acme.com'));
select tests.work();
select is((tests.execution((select id from tests.runs where name = 'hook'))).status, 'running',
  'a webhook step parks the execution until the dispatcher reports');
create table tests.claimed as select * from private.claim_webhooks('test-worker');
select is((select count(*)::integer from tests.claimed), 1, 'the dispatcher claims the webhook');
select is(
  (select c.url || ' ' || c.secret_name || ' ' || c.headers::text || ' ' || c.attempt from tests.claimed as c),
  'https://hooks.example.com/in WEBHOOK_SIGNING_SECRET {"X-Team": "growth"} 1',
  'with its URL, the name of the secret to sign with, the extra headers and the attempt');
select is(
  (select jsonb_build_object('type', b -> 'type', 'workflow', b #> '{workflow,name}', 'step', b -> 'step',
     'lead', b #> '{lead,email}', 'payload', b -> 'payload', 'trigger', b #> '{trigger,trigger}',
     'execution', b ->> 'execution_id' = (select id::text from tests.runs where name = 'hook'))
   from tests.claimed as c, lateral (select c.body::jsonb as b) as x),
  '{"type": "workflow.webhook", "workflow": "hook", "step": 0, "lead": "ada@acme.com", "payload": {"team": "growth"},
    "trigger": "manual", "execution": true}'::jsonb,
  'the body says which workflow, execution and step, with the lead, the trigger and the payload');
select is(
  (select c.body::jsonb #> '{lead,user_id}' from tests.claimed as c), null,
  'the body carries no internal ids of the owner');
select is(
  private.complete_webhooks('test-worker',
    (select jsonb_agg(jsonb_build_object('webhook_id', webhook_id, 'outcome', 'sent', 'http_status', 204)) from tests.claimed)),
  '{"sent": 1, "ignored": 0, "retried": 0, "dead_lettered": 0}'::jsonb,
  'the dispatcher reports it sent');
select tests.work();
select is((tests.execution((select id from tests.runs where name = 'hook'))).status, 'completed',
  'the execution resumes and completes');
select is(
  (select array_agg((r ->> 'status') || ' ' || coalesce(r ->> 'http_status', '-') order by n)
   from public.workflow_executions as e, jsonb_array_elements(e.step_results) with ordinality as x (r, n)
   where e.id = (select id from tests.runs where name = 'hook')),
  array['waiting -', 'done 204', 'done -'], 'the webhook''s outcome is the step''s result');
select is_empty('select from private.webhook_queue', 'the delivered webhook leaves the queue');
select ok('hooked' = any ((tests.lead('ada@acme.com')).tags), 'the step after it ran');

-- A webhook the receiver refuses fails its execution.
insert into tests.runs values ('hook refused', tests.start('hook', 'qual@acme.com'));
select tests.work();
select is(
  private.complete_webhooks('test-worker',
    (select jsonb_agg(jsonb_build_object('webhook_id', webhook_id, 'outcome', 'failed', 'http_status', 410,
       'error', 'HTTP 410: gone')) from private.claim_webhooks('test-worker'))),
  '{"sent": 0, "ignored": 0, "retried": 0, "dead_lettered": 1}'::jsonb,
  'the dispatcher reports a refusal');
select tests.work();
select is(
  (select e.status || ': ' || e.error_message from public.workflow_executions as e
   where e.id = (select id from tests.runs where name = 'hook refused')),
  'failed: steps[0] (webhook): HTTP 410: gone', 'the execution fails, naming the step and the receiver''s answer');
select ok(not 'hooked' = any ((tests.lead('qual@acme.com')).tags), 'the steps after it do not run');

select * from finish();
rollback;
