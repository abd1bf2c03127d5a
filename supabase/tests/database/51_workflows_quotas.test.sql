-- One owner cannot flood the shared workflow worker: a batch gives every owner with due
-- runs an equal share, so mallory's flood of executions does not delay alice's past one
-- batch; each owner runs at most a quota of executions per minute (default 1000, or the
-- operator's figure in private.workflow_quotas), the rest stay queued for the next minute;
-- and a schedule trigger fires at most every 5 minutes (refused on write otherwise).
begin;
\ir _helpers.psql

select plan(17);

-- The batches below share the worker among this test's owners only.
select tests.set_aside_queued_work();

do $$
begin
  perform tests.create_user('alice');
  perform tests.create_user('mallory');
end;
$$;

create function tests.status(owner text)
returns text
language sql
as $$
  select string_agg(s.status || ' ' || s.n, ', ' order by s.status)
  from (
    select e.status, count(*) as n from public.workflow_executions as e
    where e.user_id = tests.get_user_id(owner)
    group by e.status
  ) as s
$$;
create function tests.bad_trigger(trigger_config jsonb, message text, description text)
returns text
language sql
as $$
  select throws_ok(tests.insert_sql('workflows', 'alice', jsonb_build_object(
    'trigger_config', trigger_config, 'action_config', '{"steps": [{"type": "add_tag", "tag": "x"}]}'::jsonb)),
    '23514', message, description)
$$;

do $$
begin
  perform tests.workflow('alice welcomes', '{"type": "lead_created"}', owner => 'alice');
  perform tests.workflow('mallory floods', '{"type": "lead_created"}', owner => 'mallory');
end;
$$;

-- ==== fair claims ====
-- Mallory's 50 executions are due first; alice's one comes after all of them.
insert into public.leads (user_id, email)
select tests.get_user_id('mallory'), 'flood' || n || '@evil.example' from generate_series(1, 50) as n;
select tests.expand_lead_changes();
update private.workflow_runs set run_after = run_after - interval '1 hour';
insert into public.leads (user_id, email) values (tests.get_user_id('alice'), 'ada@acme.com');
select tests.expand_lead_changes();

select is(private.run_workflow_batch(10), 6, 'a batch of 10 with two owners due: a share of 5 each (alice has 1)');
select is(tests.status('alice'), 'completed 1', 'alice''s execution ran in the first batch, behind 50 of mallory''s');
select is(tests.status('mallory'), 'completed 5, running 45', 'mallory got her share; the rest wait');
select is(private.run_workflow_batch(10), 10, 'alone, mallory gets the whole next batch');
select is(
  (select count(*)::integer from private.workflow_runs where user_id = tests.get_user_id('mallory')), 35,
  'her remaining executions stay queued');

-- ==== the quota per owner and minute ====
select is(
  (select executions || ' in ' || (minute = date_trunc('minute', now())) from private.workflow_quotas
   where user_id = tests.get_user_id('mallory')),
  '15 in true', 'the worker counts what it ran for each owner this minute');
update private.workflow_quotas set executions_per_minute = 20 where user_id = tests.get_user_id('mallory');
select is(private.run_workflow_batch(10), 5, 'over the operator''s quota of 20 a minute, mallory runs only the 5 left');
select is(private.run_workflow_batch(10), 0, 'then nothing, this minute');
insert into public.leads (user_id, email) values (tests.get_user_id('alice'), 'bea@acme.com');
select tests.expand_lead_changes();
select is(private.run_workflow_batch(10), 1, 'alice is not held up by mallory''s quota');
select is(tests.status('alice'), 'completed 2', 'alice''s second execution ran');
select is(tests.status('mallory'), 'completed 20, running 30', 'mallory''s others are deferred, not dropped');
-- The next minute.
update private.workflow_quotas set minute = minute - interval '1 minute' where user_id = tests.get_user_id('mallory');
select is(private.run_workflow_batch(100), 20, 'the next minute mallory runs up to her quota again');
select is(private.default_workflow_executions_per_minute(), 1000, 'the default quota is 1000 executions a minute');

-- ==== schedules fire at most every 5 minutes ====
select tests.bad_trigger('{"type": "schedule", "cron": "* * * * *"}',
  'trigger_config.cron: "* * * * *" fires 1 minute(s) apart at its most frequent; a schedule fires at most every 5 minutes (e.g. "*/5 * * * *")',
  'a schedule every minute is refused, naming the gap and the limit');
select tests.bad_trigger('{"type": "schedule", "cron": "0-4 9 * * *"}',
  'trigger_config.cron: "0-4 9 * * *" fires 1 minute(s) apart at its most frequent; a schedule fires at most every 5 minutes (e.g. "*/5 * * * *")',
  'five minutes in a row are refused');
select tests.bad_trigger('{"type": "schedule", "cron": "0,58 0,23 * * *"}',
  'trigger_config.cron: "0,58 0,23 * * *" fires 2 minute(s) apart at its most frequent; a schedule fires at most every 5 minutes (e.g. "*/5 * * * *")',
  'the gap across midnight counts');
select lives_ok(
  tests.insert_sql('workflows', 'alice', '{"trigger_config": {"type": "schedule", "cron": "*/5 * * * *"},
    "action_config": {"steps": [{"type": "add_tag", "tag": "x"}]}}'),
  'every 5 minutes is allowed');

select * from finish();
rollback;
