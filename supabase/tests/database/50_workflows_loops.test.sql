-- Workflows that set off workflows are bounded: a workflow never fires again from a change
-- its own chain made (no ping-pong, no self-trigger), and a chain deeper than
-- private.max_workflow_depth() (5) is recorded as a failed execution instead of running.
-- A workflow fires at most once per triggering change: one execution per changed row and
-- workflow, and a worker run that is rolled back and retried starts nothing twice.
begin;
\ir _helpers.psql

select plan(13);

do $$
begin
  perform tests.create_user('alice');
end;
$$;

-- Ping-pong: each workflow's step fires the other. -----------------------------------------
do $$
begin
  perform tests.workflow('ping', '{"type": "tag_added", "tag": "ping"}',
    '[{"type": "remove_tag", "tag": "ping"}, {"type": "add_tag", "tag": "pong"}]');
  perform tests.workflow('pong', '{"type": "tag_added", "tag": "pong"}',
    '[{"type": "remove_tag", "tag": "pong"}, {"type": "add_tag", "tag": "ping"}]');
end;
$$;
insert into public.leads (user_id, email, tags) values (tests.get_user_id('alice'), 'ball@acme.com', '{ping}');
select tests.expand_lead_changes();
select cmp_ok(tests.work(), '<', 10, 'the worker comes to rest');
select is(array[tests.runs('ping'), tests.runs('pong')], array[1, 1],
  'ping fires pong, and pong''s change does not fire ping again: no loop');
select is(
  (select e.trigger_data -> 'triggered_by' from public.workflow_executions as e join public.workflows as w on w.id = e.workflow_id
   where w.name = 'pong'),
  (select jsonb_build_array(id) from public.workflows where name = 'ping'),
  'the execution pong got says which workflow set it off');
-- The app's own change starts a new chain.
update public.leads set tags = '{}' where email = 'ball@acme.com';
update public.leads set tags = '{ping}' where email = 'ball@acme.com';
do $$ begin perform tests.work(); end; $$;
select is(array[tests.runs('ping'), tests.runs('pong')], array[2, 2], 'a new change by the app starts a new chain');

-- A workflow whose step changes what it listens to. -----------------------------------------
do $$
begin
  perform tests.workflow('count visits', '{"type": "lead_updated", "fields": ["custom_fields"]}',
    '[{"type": "set_field", "key": "touched_by_workflow", "value": true}, {"type": "add_tag", "tag": "seen"}]');
end;
$$;
update public.leads set custom_fields = '{"visits": 1}' where email = 'ball@acme.com';
do $$ begin perform tests.work(); end; $$;
select is(tests.runs('count visits'), 1, 'a workflow does not fire from its own change');
select is((select custom_fields from public.leads where email = 'ball@acme.com'),
  '{"visits": 1, "touched_by_workflow": true}'::jsonb, 'its change was made');

-- A chain of six distinct workflows: the sixth is too deep. ---------------------------------
do $$
begin
  for i in 1..6 loop
    perform tests.workflow('step ' || i, jsonb_build_object('type', 'tag_added', 'tag', 't' || i),
      jsonb_build_array(jsonb_build_object('type', 'add_tag', 'tag', 't' || (i + 1))));
  end loop;
end;
$$;
insert into public.leads (user_id, email, tags) values (tests.get_user_id('alice'), 'chain@acme.com', '{t1}');
select tests.expand_lead_changes();
do $$ begin perform tests.work(); end; $$;
select is(
  (select array_agg(w.name || ': ' || e.status order by w.name) from public.workflow_executions as e
   join public.workflows as w on w.id = e.workflow_id where w.name like 'step %'),
  array['step 1: completed', 'step 2: completed', 'step 3: completed', 'step 4: completed', 'step 5: completed',
        'step 6: failed'],
  'five workflows chain; the sixth is not run');
select is(
  (select e.error_message from public.workflow_executions as e join public.workflows as w on w.id = e.workflow_id
   where w.name = 'step 6'),
  'not run: workflows started by workflows stop at a depth of 5 (step 1 -> step 2 -> step 3 -> step 4 -> step 5)',
  'its error names the chain');
select ok((select not 't7' = any (tags) from public.leads where email = 'chain@acme.com'), 'its step never ran');

-- At most once per triggering change. -------------------------------------------------------
do $$
begin
  perform tests.workflow('any change', '{"type": "lead_updated", "fields": ["first_name", "last_name", "company"]}',
    '[{"type": "adjust_score", "points": 1}]');
end;
$$;
update public.leads set first_name = 'A', last_name = 'B', company = 'C' where email in ('ball@acme.com', 'chain@acme.com');
select is(tests.runs('any change'), 2, 'one statement changing three named fields of two leads: one execution per lead');

-- A worker run that is rolled back (a crash) and run again starts nothing twice.
savepoint before_work;
do $$ begin perform tests.work(); end; $$;
rollback to savepoint before_work;
select is(
  (select count(*)::integer from public.workflow_executions as e join public.workflows as w on w.id = e.workflow_id
   where w.name = 'any change' and e.status = 'running'),
  2, 'after a crash the executions are still due');
do $$ begin perform tests.work(); end; $$;
select is(tests.runs('any change'), 2, 'run again, they do not multiply');
select is(
  (select sum(g.points)::integer from public.lead_score_ledger as g join public.workflows as w on w.id = g.workflow_id
   where w.name = 'any change'),
  2, 'and their steps ran once each');

select * from finish();
rollback;
