-- Schedule-triggered workflows: private.fire_scheduled_workflows(at), run every minute by
-- pg_cron, fires each active schedule workflow whose cron expression matches a minute (in
-- its time zone) since it last fired and since it was scheduled, once, with one execution
-- per lead of the owner that meets its conditions; a late run catches up on the last five
-- minutes; a second run in the same minute fires nothing more.
begin;
\ir _helpers.psql

select plan(17);

do $$
begin
  perform tests.create_user('alice');
  perform tests.create_user('mallory');
end;
$$;

insert into public.leads (user_id, email, status)
select tests.get_user_id('alice'), email, status
from (values ('a@acme.com', 'new'), ('b@acme.com', 'qualified'), ('c@acme.com', 'lost')) as v (email, status);
do $$
declare
  scheduled constant jsonb := '[{"type": "add_tag", "tag": "scheduled"}]';
begin
  perform tests.insert_row('leads', 'mallory', '{"email": "m@acme.com"}');
  perform tests.workflow('daily at 9', '{"type": "schedule", "cron": "0 9 * * *"}', scheduled);
  perform tests.workflow('live leads at 9', '{"type": "schedule", "cron": "0 9 * * *",
    "conditions": {"statuses": ["new", "qualified"]}}', scheduled);
  perform tests.workflow('9 in Tokyo', '{"type": "schedule", "cron": "0 9 * * *", "timezone": "Asia/Tokyo"}', scheduled);
  perform tests.workflow('quarter hours', '{"type": "schedule", "cron": "*/15 * * * *"}', scheduled);
end;
$$;

select is(private.fire_scheduled_workflows(tests.tomorrow(8, 59)), 0, 'at 08:59 nothing is due');
select is(private.fire_scheduled_workflows(tests.tomorrow(9, 0)), 3 + 2 + 3,
  'at 09:00 UTC: the daily workflow for each of alice''s three leads, the conditional one for two, quarter hours for three');
select is(array[tests.runs('daily at 9'), tests.runs('live leads at 9'), tests.runs('9 in Tokyo'), tests.runs('quarter hours')],
  array[3, 2, 0, 3], 'one execution per matching lead; the conditions choose the leads; Tokyo''s 9 is not UTC''s');
select is(
  (select array_agg(distinct e.trigger_data ->> 'scheduled_for') from public.workflow_executions as e
   join public.workflows as w on w.id = e.workflow_id where w.name = 'daily at 9'),
  array[to_jsonb(tests.tomorrow(9, 0)) #>> '{}'], 'trigger_data says which minute it was for');
select is_empty(
  $$select from public.workflow_executions as e join public.leads as l on l.id = (e.trigger_data ->> 'lead_id')::uuid
    where l.user_id <> e.user_id$$,
  'only the owner''s leads');

select is(private.fire_scheduled_workflows(tests.tomorrow(9, 0)), 0, 'run again in the same minute, nothing fires twice');
select is(private.fire_scheduled_workflows(tests.tomorrow(9, 3)), 0, 'a run at 09:03 finds nothing new to catch up');
select is(private.fire_scheduled_workflows(tests.tomorrow(9, 16)), 3, 'at 09:16, a run that missed 09:15 catches up once');
select is(private.fire_scheduled_workflows(tests.tomorrow(9, 16)), 0, 'and only once');

-- Tokyo is UTC+9: 09:00 there is 00:00 UTC.
select is(private.fire_scheduled_workflows(tests.tomorrow(0, 0) + interval '1 day'), 3 + 3,
  '09:00 in Tokyo is midnight UTC (with the quarter hour)');
select is(tests.runs('9 in Tokyo'), 3, 'the Tokyo workflow fires at its own 09:00');

-- A minute before the workflow was scheduled does not count, nor does an inactive one.
select is(
  (select count(*)::integer from private.workflow_triggers as t join public.workflows as w on w.id = t.workflow_id
   where w.name = 'daily at 9' and t.scheduled_since = now()),
  1, 'a schedule counts from when it was written');
update public.workflows set trigger_config = '{"type": "schedule", "cron": "30 9 * * *"}' where name = 'daily at 9';
select is(private.fire_scheduled_workflows(tests.tomorrow(9, 30) + interval '1 day'), 3 + 3,
  'a changed schedule fires at its new time (with the quarter hour)');
update public.workflows set is_active = false where name = 'quarter hours';
select is(private.fire_scheduled_workflows(tests.tomorrow(10, 45) + interval '1 day'), 0,
  'an inactive schedule workflow never fires');

-- The executions run like any other.
select is(private.run_workflow_batch(1000) > 0, true, 'the worker runs them');
select is((select count(*)::integer from public.leads where 'scheduled' = any (tags)), 3, 'their steps ran on alice''s leads');

select is((select schedule || ' ' || command from cron.job where jobname = 'beacon-workflow-schedules'),
  '* * * * * select private.fire_scheduled_workflows()',
  'pg_cron fires schedules every minute (beacon-workflow-schedules)');

select * from finish();
rollback;
