-- The set-based worker (private.run_workflow_batch → run_workflow_steps → run_workflow_step):
-- one batch with every step kind, several executions on each lead, gives the same leads, ledger
-- and step results as running the same executions one by one (private.run_workflow_execution,
-- in the worker's order: longest-waiting first); a poisoned execution among good ones in the
-- same step group fails alone, its earlier step undone, while the others complete; conditions
-- for many leads (private.workflow_conditions_hold) decide as private.lead_matches does.
begin;
\ir _helpers.psql

select plan(16);

-- The batches below share the worker among this test's owners only.
select tests.set_aside_queued_work();

do $$
begin
  perform tests.create_user('alice');
  perform tests.verify_sending_domain('alice', 'acme.com');
end;
$$;

-- A workflow's fixed id, n its place among a lead's executions (see tests.started).
create function tests.place(n integer)
returns jsonb
language sql
as $$
  select jsonb_build_object('id', format('00000000-0000-4000-8000-%s', lpad(n::text, 12, '0')))
$$;

-- Two copies of four leads: s* for the set-based worker, o* for one by one.
insert into public.leads (user_id, email, status, tags, custom_fields)
select tests.get_user_id('alice'), p || n || '@acme.com', v.status, v.tags, v.custom_fields
from unnest(array['s', 'o']) as p,
     (values (1, 'new', '{cold}'::text[], '{}'::jsonb),
             (2, 'contacted', '{vip}', '{}'),
             (3, 'converted', '{}', '{"plan": "pro"}'),
             (4, 'qualified', '{vip,cold}', '{"plan": "free"}')) as v (n, status, tags, custom_fields);
select set_config('beacon.trusted_score_write', 'on', true);
update public.leads set score = 99500 where email in ('s2@acme.com', 'o2@acme.com');
select set_config('beacon.trusted_score_write', '', true);
-- A lead at the tag limit (a step adding one fails) and two ordinary ones.
insert into public.leads (user_id, email, tags)
select tests.get_user_id('alice'), a, case when a = 'full@acme.com' then (select array_agg('t' || n) from generate_series(1, 100) as n) else '{}' end
from unnest(array['full@acme.com', 'g1@acme.com', 'g2@acme.com']) as a;

do $$
begin
  perform tests.workflow('mixed', steps => '[
    {"type": "set_status", "status": "qualified"},
    {"type": "add_tag", "tag": "hot"},
    {"type": "remove_tag", "tag": "cold"},
    {"type": "set_field", "key": "plan", "value": "pro"},
    {"type": "adjust_score", "points": 700},
    {"type": "condition", "conditions": {"tags": {"any": ["vip"]}}, "otherwise": "skip"},
    {"type": "add_tag", "tag": "vip-only"},
    {"type": "send_email", "subject": "Hello", "body": "Hi {{first_name|there}}"},
    {"type": "webhook", "url": "https://hooks.example.com/in", "payload": {"team": "growth"}},
    {"type": "add_tag", "tag": "after-hook"}]', overrides => tests.place(1));
  perform tests.workflow('follow', steps => '[
    {"type": "condition", "conditions": {"statuses": ["qualified"], "custom_fields": [{"key": "plan", "op": "eq", "value": "pro"}]}},
    {"type": "set_field", "key": "stage", "value": "sales"},
    {"type": "adjust_score", "points": -3},
    {"type": "wait", "duration": "2 days"},
    {"type": "add_tag", "tag": "later"}]', overrides => tests.place(2));
  perform tests.workflow('plain', steps => '[
    {"type": "set_field", "key": "plan", "value": null},
    {"type": "add_tag", "tag": "cold"},
    {"type": "set_status", "status": "lost"}]', overrides => tests.place(3));
  perform tests.workflow('tagger', steps => '[{"type": "set_field", "key": "touched", "value": true}, {"type": "add_tag", "tag": "extra"}]', overrides => tests.place(4));
end;
$$;

create table tests.started as
with request as (
  insert into public.workflow_run_requests (user_id, workflow_id, lead_id)
  select w.user_id, w.id, l.id
  from public.workflows as w
  join public.leads as l on l.user_id = w.user_id
  where (w.name in ('mixed', 'follow', 'plain') and l.email ~ '^[so][1-4]@')
     or (w.name = 'tagger' and l.email in ('full@acme.com', 'g1@acme.com', 'g2@acme.com'))
  returning execution_id, workflow_id, lead_id
)
select * from request;
-- A lead's executions wait in workflow order (mixed, follow, plain), the order both ways run them.
update private.workflow_runs as r
set run_after = r.run_after - make_interval(secs => 10 - right(r.workflow_id::text, 1)::integer);

-- One by one, in the worker's order, for the o* leads.
select tests.run_one_by_one('o_@acme.com');

select is(private.run_workflow_batch(1000), 15, 'one batch runs the 12 executions on s* leads and the 3 taggers');

-- What each copy of a lead, its ledger and its executions look like, by lead number.
create function tests.leads(prefix text)
returns setof text
language sql
as $$
  select substr(l.email, 2) || ' ' || l.status || ' ' || l.score || ' ' || l.tags::text || ' ' || l.custom_fields::text
  from public.leads as l
  where l.email like prefix || '_@acme.com'
  order by l.email
$$;
create function tests.ledger(prefix text)
returns setof text
language sql
as $$
  select substr(l.email, 2) || ' ' || g.points || ' ' || g.reason
  from public.lead_score_ledger as g
  join public.leads as l on l.id = g.lead_id
  where l.email like prefix || '_@acme.com' and g.source = 'workflow'
  order by l.email, g.reason
$$;
create function tests.results(prefix text)
returns setof text
language sql
as $$
  select w.name || ' ' || substr(l.email, 2) || ' ' || e.status || ' ' || coalesce(e.error_message, '-') || ' '
    || coalesce((select jsonb_agg(r - 'at' - 'email_campaign_id' - 'delivery_id' - 'webhook_id' order by x.n)
                 from jsonb_array_elements(e.step_results) with ordinality as x (r, n))::text, '[]')
  from tests.started as s
  join public.workflow_executions as e on e.id = s.execution_id
  join public.workflows as w on w.id = s.workflow_id
  join public.leads as l on l.id = s.lead_id
  where l.email like prefix || '_@acme.com'
  order by l.email, w.name
$$;

select results_eq($$select * from tests.leads('s')$$, $$select * from tests.leads('o')$$,
  'every lead ends as one by one leaves it (status, score clamped at 100000, tags, fields)');
select results_eq($$select * from tests.ledger('s')$$, $$select * from tests.ledger('o')$$,
  'the same workflow points are ledgered');
select results_eq($$select * from tests.results('s')$$, $$select * from tests.results('o')$$,
  'every execution has the same status, error and step results');
select is(
  (select count(*)::integer from tests.results('s') as r where r like '%"matched": false%'), 4,
  'the comparison covers unmet conditions (the follow-up stops twice, mixed skips a step twice)');
select is(
  (select array_agg(distinct r ->> 'status' order by r ->> 'status')
   from tests.started as s
   join public.workflow_executions as e on e.id = s.execution_id
   join public.leads as l on l.id = s.lead_id,
   jsonb_array_elements(e.step_results) as r
   where l.email like 's_@acme.com'),
  array['done', 'skipped', 'stopped', 'unchanged', 'waiting'],
  'and steps done, skipped, stopped, unchanged and waiting (wait and webhook)');
select is(
  (select string_agg(l.email || ' ' || h.from_status || '>' || h.to_status, ', ' order by l.email, h.from_status)
   from public.lead_status_history as h
   join public.leads as l on l.id = h.lead_id
   join tests.started as s on s.execution_id = h.execution_id and s.lead_id = h.lead_id and s.workflow_id = h.workflow_id
   where l.email like 's_@acme.com'),
  's1@acme.com new>qualified, s1@acme.com qualified>lost, s2@acme.com contacted>lost, s4@acme.com qualified>lost',
  'status history names each lead''s own execution, though one statement changed many leads');

-- send_email: one campaign for the step's leads in the batch; one by one, one each.
select is(
  (select count(distinct r ->> 'email_campaign_id')::integer || ' ' || count(*)::integer
   from tests.started as s
   join public.workflow_executions as e on e.id = s.execution_id
   join public.leads as l on l.id = s.lead_id,
   jsonb_array_elements(e.step_results) as r
   where l.email like 's_@acme.com' and r ->> 'type' = 'send_email'),
  '1 4', 'the send_email step of four executions is one campaign');
select is(
  (select string_agg(d.email, ', ' order by d.email)
   from public.email_deliveries as d
   where d.id in (select (r ->> 'delivery_id')::uuid
                  from tests.started as s
                  join public.workflow_executions as e on e.id = s.execution_id
                  join public.leads as l on l.id = s.lead_id,
                  jsonb_array_elements(e.step_results) as r
                  where l.email like 's_@acme.com' and r ->> 'type' = 'send_email')),
  's1@acme.com, s2@acme.com, s3@acme.com, s4@acme.com', 'each execution''s result names its own lead''s delivery');
select is(
  (select count(*)::integer from private.webhook_queue as q
   join tests.started as s on s.execution_id = q.execution_id
   join public.leads as l on l.id = s.lead_id
   where l.email like 's_@acme.com' and q.body #>> '{lead,email}' = l.email and q.body #>> '{payload,team}' = 'growth'),
  4, 'each webhook is queued for its execution, with its lead');

-- A poisoned execution in a group of good ones.
select is(
  (select string_agg(l.email || ' ' || e.status || coalesce(' | ' || e.error_message, ''), E'\n' order by l.email)
   from tests.started as s
   join public.workflow_executions as e on e.id = s.execution_id
   join public.workflows as w on w.id = s.workflow_id
   join public.leads as l on l.id = s.lead_id
   where w.name = 'tagger'),
  E'full@acme.com failed | steps[1] (add_tag): new row for relation "leads" violates check constraint "leads_tags_check"\n'
  || E'g1@acme.com completed\ng2@acme.com completed',
  'the execution whose step fails fails alone, naming its step; its group''s others complete');
select is(
  (select string_agg(l.email || ' ' || l.custom_fields::text || ' ' || ('extra' = any (l.tags)), ', ' order by l.email)
   from public.leads as l where l.email in ('full@acme.com', 'g1@acme.com', 'g2@acme.com')),
  'full@acme.com {} false, g1@acme.com {"touched": true} true, g2@acme.com {"touched": true} true',
  'the failed execution''s earlier step is undone; the others'' steps stand');
select is_empty(
  $$select from private.workflow_runs as r where r.run_after <= now()$$,
  'nothing due is left behind: the rest are parked (wait, webhook)');

-- Conditions for many leads decide as for one.
select is(
  (select count(*)::integer
   from (values
     (null::jsonb),
     ('{}'),
     ('{"statuses": ["qualified", "lost"]}'),
     ('{"min_score": 100, "max_score": 100000}'),
     ('{"tags": {"any": ["vip", "hot"], "none": ["cold"]}}'),
     ('{"tags": {"all": ["vip", "hot"]}}'),
     ('{"custom_fields": [{"key": "plan", "op": "exists"}, {"key": "stage", "op": "neq", "value": "sales"}]}'),
     ('{"custom_fields": [{"key": "touched", "op": "eq", "value": true}], "statuses": ["new"]}')) as c (conditions)
   where array(select h from private.workflow_conditions_hold(
                 array(select l.id from public.leads as l where l.user_id = tests.get_user_id('alice')), c.conditions) as h
               order by h)
      is distinct from
         array(select l.id from public.leads as l
               where l.user_id = tests.get_user_id('alice') and private.lead_matches(l, c.conditions) order by l.id)),
  0, 'workflow_conditions_hold selects exactly the leads lead_matches accepts, for every kind of condition');
select is(
  (select count(*)::integer from private.workflow_conditions_hold(
     array(select l.id from public.leads as l where l.user_id = tests.get_user_id('alice')), '{"tags": {"any": ["hot"]}}')),
  8, 'and it is not vacuous: the eight leads of both copies are hot');

select is(
  (select array_agg(p.proname::text order by p.proname) from pg_proc as p
   where p.pronamespace = 'private'::regnamespace
     and p.proname in ('run_workflow_step', 'run_workflow_steps', 'workflow_conditions_hold')
     and (has_function_privilege('authenticated', p.oid, 'execute') or has_function_privilege('anon', p.oid, 'execute')
          or has_function_privilege('service_role', p.oid, 'execute'))),
  null, 'apps can call none of the set-based worker''s functions');

select * from finish();
rollback;
