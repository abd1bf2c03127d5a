-- An execution's consecutive lead steps (add_tag, remove_tag, set_field, and adjust_score since
-- 20261212110000_workflow_lead_runs) change its lead with one update
-- (20261208120100_workflow_profile_steps_combined), in the set-based worker
-- (private.run_workflow_batch) and one at a time (private.run_workflow_execution) alike: each
-- step keeps its own result; lead_updated and tag_added workflows fire once for the run with
-- every field or tag it changed (a tag the run adds and removes again fires nothing); a step of
-- another kind writes the run before it; a failing step in a run is still the one named. Score
-- steps in a run: 52_workflows_lead_runs.
begin;
\ir _helpers.psql

select plan(8);

-- The batches below share the worker among this test's owners only.
select tests.set_aside_queued_work();

do $$
begin
  perform tests.create_user('alice');
end;
$$;

-- s@ runs set-based, o@ one at a time; full@ holds the 100 tags a lead may have.
insert into public.leads (user_id, email, tags)
select tests.get_user_id('alice'), a,
       case when a like '_full@%' then (select array_agg('t' || n) from generate_series(1, 100) as n) else '{}' end
from unnest(array['s@acme.com', 'o@acme.com', 'sfull@acme.com', 'ofull@acme.com']) as a;

do $$
begin
  perform tests.workflow('profile', '{"type": "manual"}', '[
    {"type": "set_field", "key": "plan", "value": "pro"},
    {"type": "add_tag", "tag": "vip"},
    {"type": "add_tag", "tag": "hot"},
    {"type": "remove_tag", "tag": "hot"},
    {"type": "add_tag", "tag": "vip"},
    {"type": "adjust_score", "points": 5},
    {"type": "add_tag", "tag": "later"}]');
  perform tests.workflow('full', '{"type": "manual"}', '[
    {"type": "add_tag", "tag": "one more"},
    {"type": "set_field", "key": "touched", "value": true}]');
  perform tests.workflow('watch fields', '{"type": "lead_updated", "fields": ["tags", "custom_fields.plan"]}',
    '[{"type": "adjust_score", "points": 1}]');
  perform tests.workflow('watch tags', '{"type": "tag_added"}', '[{"type": "adjust_score", "points": 1}]');
end;
$$;

insert into public.workflow_run_requests (user_id, workflow_id, lead_id)
select w.user_id, w.id, l.id
from public.workflows as w
join public.leads as l on l.user_id = w.user_id
where (w.name = 'profile' and l.email in ('s@acme.com', 'o@acme.com'))
   or (w.name = 'full' and l.email in ('sfull@acme.com', 'ofull@acme.com'));

-- One at a time for the o* leads, then one batch for the s* leads.
select tests.run_one_by_one('o%');
-- The s* runs first: the watcher runs o@'s run started wait as long (one transaction, one
-- now()), and among equal waits the claim's order is the heap's.
update private.workflow_runs as r
set run_after = r.run_after - interval '1 second'
from public.leads as l
where l.id = r.lead_id and l.email like 's%';
select is(private.run_workflow_batch(2), 2, 'one batch runs the two executions on s* leads');

create function tests.results(address text)
returns text
language sql
as $$
  select e.status || ' ' || coalesce(e.error_message, '-') || ' '
    || (select string_agg((r ->> 'step') || ':' || (r ->> 'status'), ' ' order by x.n)
        from jsonb_array_elements(e.step_results) with ordinality as x (r, n))
  from public.workflow_executions as e
  join public.workflows as w on w.id = e.workflow_id
  join public.leads as l on l.id = (e.trigger_data ->> 'lead_id')::uuid
  where l.email = address and w.name in ('profile', 'full')
$$;
create function tests.fired(address text)
returns text[]
language sql
as $$
  select array_agg(f order by f)
  from (select w.name || ' ' || (e.trigger_data - 'lead_id' - 'trigger' - 'triggered_by')::text as f
        from public.workflow_executions as e
        join public.workflows as w on w.id = e.workflow_id
        join public.leads as l on l.id = (e.trigger_data ->> 'lead_id')::uuid
        where l.email = address and w.name like 'watch%') as x
$$;

select is(tests.results('s@acme.com'),
  'completed - 0:done 1:done 2:done 3:done 4:unchanged 5:done 6:done',
  'each step of a run keeps its own result, as the lead stood after the steps before it');
select is(tests.results('o@acme.com'), tests.results('s@acme.com'), 'one at a time gives the same results');
select is(
  (select tags::text || ' ' || custom_fields::text || ' ' || score from public.leads where email = 's@acme.com'),
  '{vip,later} {"plan": "pro"} 5', 'the lead holds what the steps did');
select is(tests.fired('s@acme.com'), array[
    'watch fields {"changed": ["score", "tags", "custom_fields", "custom_fields.plan"]}',
    'watch tags {"tags": ["vip", "later"]}'],
  'lead_updated and tag_added fire once for the run, its score step included, with every change (hot came and went)');
select is(tests.fired('o@acme.com'), tests.fired('s@acme.com'), 'and the same one at a time');

select is(tests.results('sfull@acme.com'),
  'failed steps[0] (add_tag): new row for relation "leads" violates check constraint "leads_tags_check" 0:failed',
  'the failing step of a run is named, not the last of the run');
select is(tests.results('ofull@acme.com'), tests.results('sfull@acme.com'), 'and the same one at a time');

select * from finish();
rollback;
