-- The set-based worker's `condition` step and the leads a schedule fires for are compiled by
-- the lead grammar's compiler (migrations workflow_conditions_compiled and
-- workflow_schedules_compiled, through private.leads_meeting), so a condition on activity
-- (events, email engagement, absent ones) holds there exactly as one execution at a time
-- (private.lead_matches) decides, each owner's activity for their own leads only.
begin;
\ir _helpers.psql

select plan(7);

select tests.set_aside_queued_work();

do $$ begin perform tests.create_user('alice'); perform tests.create_user('bob'); end; $$;
update private.email_queue set paused = true where not paused;

-- Two copies of six leads, s* for the set-based worker and o* for one at a time: signed up 3
-- days ago (1, 2), 90 days ago (3), opened an email this week (2, 4), bounced (5), nothing (6).
insert into public.leads (user_id, email, status)
select tests.get_user_id('alice'), p || n || '@acme.com', case when n % 2 = 0 then 'qualified' else 'new' end
from unnest(array['s', 'o']) as p, generate_series(1, 6) as n;
-- bob's lead 3 signed up yesterday: not alice's activity.
insert into public.leads (user_id, email) values (tests.get_user_id('bob'), 'b3@bob.test');
insert into public.analytics_events (user_id, event_type, event_name, properties, "timestamp")
select l.user_id, 'track', 'signup', jsonb_build_object('lead_id', l.id), now() - make_interval(days => v.days_ago)
from public.leads as l
join (values ('1', 3), ('2', 3), ('3', 90)) as v (n, days_ago) on l.email ~ ('^[so]' || v.n || '@')
union all
select l.user_id, 'track', 'signup', jsonb_build_object('email', upper(l.email)), now() - interval '1 day'
from public.leads as l where l.email = 'b3@bob.test';
insert into public.email_campaigns (user_id, subject, content, recipient_list)
values (tests.get_user_id('alice'), 'Hi', 'Hello', '[]');
insert into public.email_deliveries (user_id, email_campaign_id, lead_id, email, status, idempotency_key,
  human_opened_at, bounced_at)
select l.user_id, c.id, l.id, l.email, 'delivered', l.email,
  case when l.email ~ '^[so][24]@' then now() - interval '2 days' end,
  case when l.email ~ '^[so]5@' then now() - interval '2 days' end
from public.leads as l
join public.email_campaigns as c on c.user_id = l.user_id and c.subject = 'Hi'
where l.email ~ '^[so][245]@';

do $$
begin
  perform tests.workflow('engaged', steps => '[
    {"type": "condition", "conditions": {"events": [{"event_name": "signup", "within_days": 30}]}, "otherwise": "skip"},
    {"type": "add_tag", "tag": "signed-up"},
    {"type": "condition", "conditions": {"emails": [{"action": "opened", "within_days": 7}], "statuses": ["qualified"]}, "otherwise": "skip"},
    {"type": "add_tag", "tag": "opener"},
    {"type": "condition", "conditions": {"emails": [{"action": "bounced", "within_days": 30, "absent": true}]}},
    {"type": "add_tag", "tag": "reachable"}]');
end;
$$;
insert into public.workflow_run_requests (user_id, workflow_id, lead_id)
select w.user_id, w.id, l.id
from public.workflows as w
join public.leads as l on l.user_id = w.user_id
where w.name = 'engaged';

-- One at a time for the o* leads, then one batch for the s* leads.
do $$
declare
  run private.workflow_runs;
begin
  for run in
    select r.* from private.workflow_runs as r join public.leads as l on l.id = r.lead_id
    where l.email like 'o_@acme.com' order by l.email
  loop
    perform private.run_workflow_execution(run);
  end loop;
end;
$$;
select is(private.run_workflow_batch(1000), 6, 'one batch runs the six s* executions');

create function tests.tags(prefix text)
returns text
language sql
as $$
  select string_agg(substr(l.email, 2, 1) || ': ' || array_to_string(l.tags, ' '), ', ' order by l.email)
  from public.leads as l where l.email like prefix || '_@acme.com'
$$;
select is(tests.tags('s'),
  '1: signed-up reachable, 2: signed-up opener reachable, 3: reachable, 4: opener reachable, 5: , 6: reachable',
  'the set-based worker honours activity conditions: events in a window, opened emails, no bounce');
select is(tests.tags('s'), tests.tags('o'), 'and decides as one execution at a time does');

-- workflow_conditions_hold for leads of two owners: each owner's activity for their own leads.
select is(
  (select array_agg(l.email order by l.email)
   from private.workflow_conditions_hold(
     array(select l.id from public.leads as l where l.email ~ '^s[1-6]@' or l.email = 'b3@bob.test'),
     '{"events": [{"event_name": "signup", "within_days": 30}]}') as h
   join public.leads as l on l.id = h),
  array['b3@bob.test', 's1@acme.com', 's2@acme.com'],
  'workflow_conditions_hold reads each owner''s activity for their own leads');
select is(
  (select count(*)::integer
   from (values
     ('{"events": [{"event_name": "signup", "within_days": 30}]}'::jsonb),
     ('{"events": [{"event_name": "signup", "within_days": 100, "absent": true}], "statuses": ["qualified"]}'),
     ('{"emails": [{"action": "opened", "within_days": 7}]}'),
     ('{"emails": [{"action": "bounced", "within_days": 30, "absent": true}], "min_score": 0}'),
     ('{"emails": [{"action": "clicked", "within_days": 30}]}')) as c (conditions)
   where array(select h from private.workflow_conditions_hold(
                 array(select l.id from public.leads as l where l.email like '%@acme.com'), c.conditions) as h
               order by h)
      is distinct from
         array(select l.id from public.leads as l
               where l.email like '%@acme.com' and private.lead_matches(l, c.conditions) order by l.id)),
  0, 'workflow_conditions_hold selects exactly the leads lead_matches accepts, for activity conditions');

-- A schedule fires for the owner's leads meeting its conditions, activity included.
do $$
begin
  perform tests.workflow('signed up lately', '{"type": "schedule", "cron": "0 9 * * *",
    "conditions": {"events": [{"event_name": "signup", "within_days": 30}], "statuses": ["new"]}}');
end;
$$;
select is(private.fire_scheduled_workflows(tests.tomorrow(9, 0)), 2, 'at 09:00 the schedule fires twice');
select is(
  (select array_agg(l.email order by l.email)
   from public.workflow_executions as e
   join public.workflows as w on w.id = e.workflow_id
   join public.leads as l on l.id = (e.trigger_data ->> 'lead_id')::uuid
   where w.name = 'signed up lately'),
  array['o1@acme.com', 's1@acme.com'],
  'for alice''s new leads who signed up in the last 30 days: not bob''s, not the old signup');

select * from finish();
rollback;
