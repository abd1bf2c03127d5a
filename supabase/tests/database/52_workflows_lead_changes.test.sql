-- Lead inserts start their workflows through the private.lead_changes inbox: the insert
-- records one row per statement and owner (only owners with lead_created, tag_added or
-- lead_score_reached workflows), and private.expand_lead_changes (the beacon-lead-changes
-- job) starts the executions set-based, each owner with waiting rows an equal share of a run
-- (round-robin, the longest-waiting first), each row once however often it runs, matching the leads as they stood right after their insert, under the workflow chain
-- they were inserted under. A row that fails keeps the reason, holds nobody else up (nor its
-- owner's other rows), and is retried with backoff until it fails for the fifth time. Apps can neither read nor write the inbox.
begin;
\ir _helpers.psql

select plan(30);

-- The inbox holds this test's rows only, so the counts below are its own.
select tests.set_aside_queued_work();

do $$
begin
  perform tests.create_user('alice');
  perform tests.create_user('mallory');
  perform tests.create_user('quiet');
end;
$$;

do $$
begin
  perform tests.workflow('welcome', '{"type": "lead_created", "conditions": {"statuses": ["new"]}}', owner => 'alice');
  perform tests.workflow('vip', '{"type": "tag_added", "tag": "vip"}', owner => 'alice');
  perform tests.workflow('flood', '{"type": "lead_created"}', owner => 'mallory');
end;
$$;

-- ==== acting as alice, through the app ====
select tests.authenticate_as('alice');
insert into public.leads (email, tags) values ('ada@acme.com', '{vip}'), ('bob@acme.com', '{}');
select throws_ok('select * from private.lead_changes', '42501', null, 'alice cannot read the inbox');
select throws_ok($$insert into private.lead_changes (user_id, leads) values (auth.uid(), '[]')$$, '42501', null,
  'nor write it');
select tests.clear_authentication();

select is(
  (select array_agg(jsonb_array_length(c.leads)) from private.lead_changes as c
   where c.user_id = tests.get_user_id('alice')),
  array[2], 'a two-lead insert records one inbox row holding both leads');
select is(tests.started('alice'), '{}'::text[], 'the insert itself starts nothing');
select lives_ok($$select tests.insert_row('leads', 'quiet', '{"email": "q@acme.com"}')$$,
  'an owner without lead workflows inserts leads');
select is_empty($$select from private.lead_changes where user_id = tests.get_user_id('quiet')$$,
  'and records no inbox row');

-- The leads as they stood after the insert: a later change does not change what fired.
update public.leads set status = 'qualified' where email = 'ada@acme.com';
insert into public.leads (user_id, email) values (tests.get_user_id('alice'), 'gone@acme.com');
delete from public.leads where email = 'gone@acme.com';

select is(tests.expand_lead_changes(), 2, 'the job expands both of alice''s rows');
select is(tests.started('alice'), array['vip ada@acme.com', 'welcome ada@acme.com', 'welcome bob@acme.com'],
  'conditions see each lead as it was inserted (ada was new then); a deleted lead starts nothing');
select is((select count(*)::integer from private.workflow_runs where user_id = tests.get_user_id('alice')), 3,
  'each execution has its run queued');
select is_empty('select from private.lead_changes', 'expanded rows are gone');
select is(tests.expand_lead_changes(), 0, 'running the job again finds nothing');
select is(cardinality(tests.started('alice')), 3, 'and starts nothing twice');

-- ==== oldest first ====
insert into public.leads (user_id, email) values (tests.get_user_id('mallory'), 'm1@evil.example');
insert into public.leads (user_id, email) values (tests.get_user_id('alice'), 'cy@acme.com');
select is(private.expand_lead_changes(1), 1, 'a batch of one claims one row');
select is(array[cardinality(tests.started('mallory')), cardinality(tests.started('alice'))], array[1, 3],
  'the oldest: mallory''s, inserted first');
select tests.expand_lead_changes();

-- ==== each owner a share of the run ====
-- mallory floods the inbox with five inserts, more than a run of three takes; alice's one
-- insert, recorded after all of them, is expanded in the same run.
do $$
begin
  for n in 1..5 loop
    insert into public.leads (user_id, email) values (tests.get_user_id('mallory'), format('flood%s@evil.example', n));
  end loop;
end;
$$;
insert into public.leads (user_id, email) values (tests.get_user_id('alice'), 'hal@acme.com');
select is(private.expand_lead_changes(3), 3, 'a run of three claims three rows');
select is_empty($$select from private.lead_changes where user_id = tests.get_user_id('alice')$$,
  'alice''s one row, the newest, is expanded in that run');
select is((select count(*)::integer from private.lead_changes where user_id = tests.get_user_id('mallory')), 3,
  'mallory''s flood takes the rest of the run (her two oldest) and waits for the next');
select tests.expand_lead_changes();

-- ==== the chain a lead was inserted under ====
select set_config('beacon.workflow_chain',
  format('{%s}', (select id from public.workflows where name = 'welcome')), true);
insert into public.leads (user_id, email, tags) values (tests.get_user_id('alice'), 'dee@acme.com', '{vip}');
select set_config('beacon.workflow_chain', '', true);
select tests.expand_lead_changes();
select is(
  (select array_agg(w.name || ' ' || (e.trigger_data -> 'triggered_by' ->> 0 = (select id::text from public.workflows where name = 'welcome')))
   from public.workflow_executions as e
   join public.workflows as w on w.id = e.workflow_id
   where e.trigger_data ->> 'lead_id' = (select id::text from public.leads where email = 'dee@acme.com')),
  array['vip true'],
  'a lead inserted by a workflow''s step does not start that workflow again; the others say who set them off');

-- ==== one owner's bad row stops nobody else ====
insert into private.lead_changes (user_id, leads)
values (tests.get_user_id('mallory'), '[{"id": "not a uuid"}]');
insert into public.leads (user_id, email) values (tests.get_user_id('alice'), 'eve@acme.com');
select tests.expand_lead_changes();
select is(
  (select array_agg(e.email) from unnest(tests.started('alice')) as e (email) where e.email like '%eve@%'),
  array['welcome eve@acme.com'], 'alice''s lead, recorded after mallory''s bad row, starts its workflow');
select is(
  (select error like '%uuid%' and failed_at is not null from private.lead_changes where user_id = tests.get_user_id('mallory')),
  true, 'mallory''s row keeps the reason it failed');

-- ==== a failed row is retried with backoff, five times at most ====
select is(
  (select (attempts, retry_at - failed_at) from private.lead_changes where user_id = tests.get_user_id('mallory')),
  (1, interval '30 seconds'), 'it is retried in 30 seconds');
insert into public.leads (user_id, email) values (tests.get_user_id('mallory'), 'ok@evil.example');
update private.lead_changes set retry_at = now() where user_id = tests.get_user_id('mallory') and error is not null;
select tests.expand_lead_changes();
select is(
  (select array_agg(e.email) from unnest(tests.started('mallory')) as e (email) where e.email like '%ok@%'),
  array['flood ok@evil.example'], 'mallory''s good row, claimed with her failing one, starts its workflow');
select is(
  (select (attempts, error like '%uuid%', retry_at - failed_at) from private.lead_changes
   where user_id = tests.get_user_id('mallory')),
  (2, true, interval '2 minutes'), 'the due retry fails again and waits four times longer');
do $$
begin
  for n in 3..5 loop
    update private.lead_changes set retry_at = now() where user_id = tests.get_user_id('mallory') and error is not null;
    perform tests.expand_lead_changes();
  end loop;
end;
$$;
select is(
  (select (attempts, retry_at) from private.lead_changes where user_id = tests.get_user_id('mallory')),
  (5, null::timestamptz), 'after the fifth failure it is not retried');
select is(
  (select error like 'gave up after 5 attempts: %uuid%' from private.lead_changes where user_id = tests.get_user_id('mallory')),
  true, 'and says so, with the reason');
-- A retry that succeeds: the cause gone (here, the row itself mended), the row is expanded.
update private.lead_changes
set leads = jsonb_build_array(to_jsonb(l)), retry_at = now()
from public.leads as l
where lead_changes.user_id = tests.get_user_id('mallory') and l.email = 'ok@evil.example';
select tests.expand_lead_changes();
select is_empty($$select from private.lead_changes where user_id = tests.get_user_id('mallory')$$,
  'a retry that succeeds expands the row like any other');

-- ==== conditions are each owner's own ====
-- alice and mallory have workflows with the same conditions: each owner's leads are checked
-- against their own owner's, and the one condition met fires only that owner's workflow.
do $$
begin
  perform tests.workflow('b2b', '{"type": "lead_created", "conditions": {"tags": {"any": ["b2b"]}}}', owner => 'alice');
  perform tests.workflow('b2b', '{"type": "lead_created", "conditions": {"tags": {"any": ["b2b"]}}}', owner => 'mallory');
end;
$$;
insert into public.leads (user_id, email, tags) values
  (tests.get_user_id('alice'), 'fay@acme.com', '{b2b}'), (tests.get_user_id('alice'), 'gus@acme.com', '{}');
insert into public.leads (user_id, email, tags) values
  (tests.get_user_id('mallory'), 'm2@evil.example', '{b2b}'), (tests.get_user_id('mallory'), 'm3@evil.example', '{}');
select tests.expand_lead_changes();
select is(
  (select array_agg(e.started) from unnest(tests.started('alice') || tests.started('mallory')) as e (started)
   where e.started similar to '% (fay|gus|m2|m3)@%'),
  array['b2b fay@acme.com', 'welcome fay@acme.com', 'welcome gus@acme.com',
        'b2b m2@evil.example', 'flood m2@evil.example', 'flood m3@evil.example'],
  'each lead starts the workflows whose conditions it meets, its owner''s only');

-- ==== executions inserted otherwise still take their workflow's owner ====
select is(current_setting('beacon.execution_owners_set', true), '',
  'starting executions leaves set_execution_owner on for the rest of the transaction');
with inserted as (
  insert into public.workflow_executions (workflow_id, user_id)
  values ((select id from public.workflows where name = 'welcome'), tests.get_user_id('mallory'))
  returning user_id
)
select is((select user_id from inserted), tests.get_user_id('alice'),
  'an execution inserted naming another user belongs to its workflow''s owner');

-- A run's foreign key check is planned once per session: planned while workflow_executions
-- was nearly empty it scanned the table, once per run of every later batch.
select is(
  (select 'enable_seqscan=off' = any (p.proconfig) from pg_proc as p
   where p.oid = 'private.start_workflow_executions(uuid[], uuid[], uuid[], jsonb[])'::regprocedure),
  true, 'starting executions plans its statements (and the runs'' key checks) without sequential scans');

select * from finish();
rollback;
