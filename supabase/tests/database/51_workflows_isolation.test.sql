-- One owner's bad data never stops the workflow jobs for the others. Mallory's workflows
-- carry data the validators refuse (written here as postgres, around the validator, as an
-- older config or a manual fix could leave it); alice's work is ordinary. One run of each
-- job does alice's work, and mallory's units carry the error on her own rows:
--
--   beacon-workflow-schedules (private.fire_scheduled_workflows): a schedule whose stored
--   time zone cannot be read (the set-based search for due schedules fails, the job splits
--   it) and one whose conditions cannot be evaluated each get a failed execution naming the
--   reason and are deactivated; a schedule stored as every minute fires at most every 5.
--   beacon-workflow-worker (private.run_workflow_batch): executions whose steps hold bad
--   points, bad conditions or a bad duration, or whose run names another owner's lead, fail
--   alone with "steps[i] (type): reason".
begin;
\ir _helpers.psql

select plan(23);

-- The batches below share the worker among this test's owners only.
select tests.set_aside_queued_work();

do $$
begin
  perform tests.create_user('alice');
  perform tests.create_user('mallory');
  perform tests.create_user('bob');
end;
$$;

-- Rewrites a workflow's config as postgres, without the validator.
create function tests.poison(name text, trigger_config jsonb, steps jsonb default null)
returns void
language plpgsql
as $$
begin
  alter table public.workflows disable trigger check_config;
  update public.workflows as w
  set trigger_config = poison.trigger_config,
      action_config = case when poison.steps is null then w.action_config else jsonb_build_object('steps', poison.steps) end
  where w.name = poison.name;
  alter table public.workflows enable trigger check_config;
end;
$$;
create function tests.outcome(name text)
returns text
language sql
as $$
  select string_agg(e.status || coalesce(' | ' || e.error_message, ''), E'\n' order by e.error_message)
  from public.workflow_executions as e
  join public.workflows as w on w.id = e.workflow_id
  where w.name = outcome.name
$$;

insert into public.leads (user_id, email)
select tests.get_user_id(owner), email
from (values ('alice', 'a1@acme.com'), ('alice', 'a2@acme.com'), ('mallory', 'm1@evil.example'),
             ('bob', 'b1@bob.example')) as v (owner, email);

-- ==== the schedule job ====
do $$
begin
  perform tests.workflow('alice at 9', '{"type": "schedule", "cron": "0 9 * * *"}',
    '[{"type": "add_tag", "tag": "morning"}]', owner => 'alice');
  perform tests.workflow('bad zone', '{"type": "schedule", "cron": "0 9 * * *"}',
    '[{"type": "add_tag", "tag": "x"}]', owner => 'mallory');
  perform tests.workflow('bad conditions', '{"type": "schedule", "cron": "0 9 * * *"}',
    '[{"type": "add_tag", "tag": "x"}]', owner => 'mallory');
  perform tests.workflow('every minute', '{"type": "schedule", "cron": "*/5 * * * *"}',
    '[{"type": "add_tag", "tag": "x"}]', owner => 'mallory');
  perform tests.poison('bad zone', '{"type": "schedule", "cron": "0 9 * * *", "timezone": "Europe/Atlantis"}');
  perform tests.poison('bad conditions', '{"type": "schedule", "cron": "0 9 * * *", "conditions": {"statuses": "new"}}');
  perform tests.poison('every minute', '{"type": "schedule", "cron": "* * * * *"}');
end;
$$;

select is(private.fire_scheduled_workflows(tests.tomorrow(9, 0)), 2 + 1,
  'one run at 09:00: alice''s schedule fires for her two leads (and the every-minute one for mallory''s lead)');
select is(tests.runs('alice at 9'), 2, 'alice''s executions are started');
select is(tests.outcome('bad zone'),
  'failed | the schedule could not fire: time zone "Europe/Atlantis" not recognized; the workflow was deactivated: '
  'correct its trigger_config, then set is_active to true',
  'the schedule whose time zone cannot be read carries the reason on a failed execution');
select is(tests.outcome('bad conditions'),
  'failed | the schedule could not fire: cannot extract elements from a scalar; the workflow was deactivated: '
  'correct its trigger_config, then set is_active to true',
  'the schedule whose conditions cannot be evaluated carries the reason too');
select is(
  (select array_agg(name || ' ' || is_active order by name) from public.workflows
   where user_id = tests.get_user_id('mallory')),
  array['bad conditions false', 'bad zone false', 'every minute true'],
  'the broken schedules are deactivated; the others stay active');
select is(
  (select e.trigger_data from public.workflow_executions as e join public.workflows as w on w.id = e.workflow_id
   where w.name = 'bad conditions'),
  jsonb_build_object('trigger', 'schedule', 'scheduled_for', tests.tomorrow(9, 0)),
  'the failed execution says which firing it was');
select is(private.fire_scheduled_workflows(tests.tomorrow(9, 1)) + private.fire_scheduled_workflows(tests.tomorrow(9, 4)),
  0, 'a schedule stored as every minute does not fire again within 5 minutes');
select is(private.fire_scheduled_workflows(tests.tomorrow(9, 5)), 1, 'but does at 09:05');

-- Errors that say "try again" leave the workflow active.
select private.record_schedule_failure((select id from public.workflows where name = 'alice at 9'),
  tests.tomorrow(9, 0), 'could not serialize access', '40001');
select is(
  (select w.is_active::text || ' | ' || e.error_message from public.workflow_executions as e
   join public.workflows as w on w.id = e.workflow_id where w.name = 'alice at 9' and e.status = 'failed'),
  'true | the schedule could not fire: could not serialize access; the next firing tries again',
  'a transient failure is recorded and the workflow stays active');

-- The job's code: each unit in its own subtransaction.
select ok(
  (select prosrc ~* 'exception when others' from pg_proc
   where oid = 'private.fire_scheduled_workflows(timestamptz)'::regprocedure),
  'fire_scheduled_workflows catches each workflow''s error');

-- ==== the worker ====
do $$
begin
  perform tests.workflow('alice scores', '{"type": "manual"}',
    '[{"type": "adjust_score", "points": 5.0}, {"type": "add_tag", "tag": "scored"}]', owner => 'alice');
  perform tests.workflow('fractional points', '{"type": "manual"}',
    '[{"type": "add_tag", "tag": "first"}, {"type": "adjust_score", "points": 1}]', owner => 'mallory');
  perform tests.workflow('text points', '{"type": "manual"}', '[{"type": "adjust_score", "points": 1}]', owner => 'mallory');
  perform tests.workflow('bad condition', '{"type": "manual"}',
    '[{"type": "condition", "conditions": {"min_score": 1}}]', owner => 'mallory');
  perform tests.workflow('bad wait', '{"type": "manual"}', '[{"type": "wait", "duration": "1 day"}]', owner => 'mallory');
  perform tests.workflow('other lead', '{"type": "manual"}', '[{"type": "add_tag", "tag": "stolen"}]', owner => 'mallory');
  perform tests.poison('fractional points', '{"type": "manual"}',
    '[{"type": "add_tag", "tag": "first"}, {"type": "adjust_score", "points": 5.5}]');
  perform tests.poison('text points', '{"type": "manual"}', '[{"type": "adjust_score", "points": "99999"}]');
  perform tests.poison('bad condition', '{"type": "manual"}', '[{"type": "condition", "conditions": {"tags": {"any": "vip"}}}]');
  perform tests.poison('bad wait', '{"type": "manual"}', '[{"type": "wait", "duration": "forever"}]');
end;
$$;

insert into public.workflow_run_requests (user_id, workflow_id, lead_id)
select w.user_id, w.id, l.id
from public.workflows as w
join public.leads as l on l.user_id = w.user_id
where w.name in ('alice scores', 'fractional points', 'text points', 'bad condition', 'bad wait')
  and l.email in ('a1@acme.com', 'm1@evil.example');
-- A run of mallory's that names bob's lead (as a bug or a hand-made row could).
with execution as (
  insert into public.workflow_executions (workflow_id, trigger_data)
  select id, '{"trigger": "manual"}' from public.workflows where name = 'other lead'
  returning id, workflow_id, user_id
)
insert into private.workflow_runs (execution_id, workflow_id, user_id, lead_id)
select e.id, e.workflow_id, e.user_id, (select id from public.leads where email = 'b1@bob.example')
from execution as e;
-- The schedules' executions are not part of this run.
delete from private.workflow_runs where workflow_id in (select id from public.workflows where trigger_config ->> 'type' = 'schedule');

select is(private.run_workflow_batch(100), 6, 'one batch runs all six executions');
select is(tests.outcome('alice scores'), 'completed', 'alice''s execution completes');
select is((select score || ' ' || array_to_string(tags, ',') from public.leads where email = 'a1@acme.com'),
  '5 scored', 'and its steps ran (5.0 points are 5)');
select is(tests.outcome('fractional points'),
  'failed | steps[1] (adjust_score): points: expected a whole number from -1000 to 1000, not 5.5',
  'fractional points fail the step, naming it');
select is((select tags from public.leads where email = 'm1@evil.example'), '{}'::text[],
  'the failed execution''s earlier step is undone');
select is(tests.outcome('text points'),
  'failed | steps[0] (adjust_score): points: expected a whole number from -1000 to 1000, not "99999"',
  'points written as a string fail the step (and never move the score to a bound)');
select is((select score from public.leads where email = 'm1@evil.example'), 0, 'mallory''s lead kept its score');
select is(tests.outcome('bad condition'),
  'failed | steps[0] (condition): cannot extract elements from a scalar',
  'a condition that cannot be evaluated fails its execution');
select is(tests.outcome('bad wait'),
  'failed | steps[0] (wait): invalid input syntax for type interval: "forever"',
  'a duration that cannot be read fails its execution');
select is(tests.outcome('other lead'),
  format('failed | steps[0] (add_tag): the lead %s no longer exists', (select id from public.leads where email = 'b1@bob.example')),
  'a run naming another owner''s lead finds no lead: the worker loads leads with the run''s owner');
select is((select tags from public.leads where email = 'b1@bob.example'), '{}'::text[], 'bob''s lead is untouched');
select is_empty('select from private.workflow_runs', 'no run is left behind, failed or not');

-- A clamp at the bounds of the score column.
select set_config('beacon.trusted_score_write', 'on', true);
update public.leads set score = 99998 where email = 'a1@acme.com';
select set_config('beacon.trusted_score_write', '', true);
create table tests.clamped as
with request as (
  insert into public.workflow_run_requests (user_id, workflow_id, lead_id)
  select w.user_id, w.id, l.id from public.workflows as w, public.leads as l
  where w.name = 'alice scores' and l.email = 'a1@acme.com'
  returning execution_id
)
select execution_id from request;
select private.run_workflow_batch(100);
select is(
  (select l.score || ' ' || (e.step_results -> 0 ->> 'points') from public.leads as l, public.workflow_executions as e
   where l.email = 'a1@acme.com' and e.id = (select execution_id from tests.clamped)),
  '100000 2', 'adjust_score stops at the score column''s upper bound, recording the points it gave');

select * from finish();
rollback;
