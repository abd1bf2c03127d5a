-- The one lead grammar (migration lead_predicate_activity): workflow conditions as they were
-- stay valid; activity (events, emails) is validated with errors naming the path; and the
-- compiled SQL (private.lead_conditions_sql) selects exactly the leads lead_matches accepts,
-- activity included, on a fixture where each window edge is met once.
begin;
\ir _helpers.psql

select plan(30);

do $$ begin perform tests.create_user('alice'); perform tests.create_user('bob'); end; $$;
update private.email_queue set paused = true where not paused;

-- ==== the grammar: existing conditions still valid, activity accepted ====
select is(private.lead_conditions_problem('c', c), null, format('valid: %s', c))
from unnest(array[
  '{}',
  '{"statuses": ["new", "qualified"], "min_score": 10, "max_score": 100.0}',
  '{"tags": {"any": ["vip"], "all": ["b2b"], "none": ["churned"]}, "custom_fields": [{"key": "plan", "op": "eq", "value": "pro"}]}',
  '{"events": [{"event_name": "signup", "within_days": 30}, {"event_type": "page", "properties": {"path": "/pricing"}, "within_days": 7, "absent": true}]}',
  '{"emails": [{"action": "opened", "within_days": 30}, {"action": "bounced", "within_days": 3650, "absent": false}]}'
]::jsonb[]) as c;

-- ==== errors name the path ====
select is(private.lead_conditions_problem('predicate', c::jsonb), message, message)
from (values
  ('{"event": []}', 'predicate.event: unknown key; conditions take statuses, min_score, max_score, tags, custom_fields, events and emails'),
  ('{"events": []}', 'predicate.events: expected a list of 1 to 10 activities such as [{"event_name": "signup", "within_days": 30}], not []'),
  ('{"events": ["signup"]}', 'predicate.events[0]: expected an activity such as {"event_name": "signup", "within_days": 30}, not "signup"'),
  ('{"events": [{"event_name": "a", "within_days": 1}, {"within_days": 3}]}', 'predicate.events[1]: an event activity needs event_type, event_name or both'),
  ('{"events": [{"event_name": "a", "within_days": 0}]}', 'predicate.events[0].within_days: expected a whole number from 1 to 3650, not 0'),
  ('{"events": [{"event_name": "a", "within_days": 2, "properties": []}]}', 'predicate.events[0].properties: expected an object the event''s properties must contain, such as {"plan": "pro"}, not []'),
  ('{"emails": [{"action": "read", "within_days": 3}]}', 'predicate.emails[0].action: expected one of opened, clicked, bounced, not "read"'),
  ('{"emails": [{"action": "opened", "within_days": 3, "when": 1}]}', 'predicate.emails[0].when: unknown key; an activity in emails takes action, within_days, absent'),
  ('{"emails": [{"action": "opened", "within_days": 3, "absent": "yes"}]}', 'predicate.emails[0].absent: expected true (no such activity in the window) or false, not "yes"'),
  ('{"custom_fields": [{"key": "plan", "op": "eq", "value": 1}], "emails": [{"action": "clicked"}]}', 'predicate.emails[0].within_days: expected a whole number from 1 to 3650, not nothing')
) as t (c, message);

select throws_ok(
  $$insert into public.workflows (user_id, name, trigger_config, action_config)
    values (tests.get_user_id('alice'), 'w', '{"type": "lead_created", "conditions": {"emails": [{"action": "opened"}]}}', '{"steps": []}')$$,
  '23514', 'trigger_config.conditions.emails[0].within_days: expected a whole number from 1 to 3650, not nothing',
  'a workflow''s conditions are checked by the same validator, with its path');

-- ==== the compiler agrees with lead_matches ====
-- alice: ada signed up 2 days ago (event names her lead id) and opened an email 3 days ago;
-- bea signed up 40 days ago (event names her email) and bounced 1 day ago; cy did nothing.
-- bob has the same events about his own lead, and none may count for alice's.
create table tests.fixture as
select
  tests.insert_row('leads', 'alice', '{"email": "ada@example.test", "tags": ["vip"], "score": 5}') as ada,
  tests.insert_row('leads', 'alice', '{"email": "Bea@example.test", "status": "qualified"}') as bea,
  tests.insert_row('leads', 'alice', '{"email": "cy@example.test", "custom_fields": {"plan": "pro"}}') as cy,
  tests.insert_row('leads', 'bob', '{"email": "cy@example.test"}') as bobs_cy,
  tests.insert_row('email_campaigns', 'alice', '{"recipient_list": []}') as campaign;
insert into public.analytics_events (user_id, event_type, event_name, properties, "timestamp")
select tests.get_user_id('alice'), 'track', 'signup', jsonb_build_object('lead_id', upper(ada::text), 'plan', 'pro'), now() - interval '2 days'
from tests.fixture
union all
select tests.get_user_id('alice'), 'track', 'signup', '{"email": "bea@EXAMPLE.test"}', now() - interval '40 days'
union all
select tests.get_user_id('bob'), 'track', 'signup', '{"email": "cy@example.test"}', now() - interval '1 day';
insert into public.email_deliveries (user_id, email_campaign_id, lead_id, email, status, sent_at, idempotency_key,
  opened_at, human_opened_at, bounced_at)
select tests.get_user_id('alice'), campaign, ada, 'ada@example.test', 'delivered', now() - interval '4 days', 'k1',
  now() - interval '3 days', now() - interval '3 days', null
from tests.fixture
union all
select tests.get_user_id('alice'), campaign, bea, 'bea@example.test', 'bounced', now() - interval '4 days', 'k2',
  now() - interval '1 day', null, now() - interval '1 day'
from tests.fixture;

create function tests.matched(conditions jsonb, compiled boolean)
returns text[]
language plpgsql
as $$
declare
  names text[];
begin
  if compiled then
    execute format('select array_agg(split_part(l.email, ''@'', 1) order by l.email) from public.leads as l where l.user_id = %L and %s',
      tests.get_user_id('alice'), private.lead_conditions_sql(conditions, 'l', format('%L::uuid', tests.get_user_id('alice'))))
    into names;
  else
    select array_agg(split_part(l.email, '@', 1) order by l.email) into names
    from public.leads as l where l.user_id = tests.get_user_id('alice') and private.lead_matches(l, conditions);
  end if;
  return coalesce(names, '{}');
end;
$$;

select is(tests.matched(c::jsonb, compiled), expected::text[],
  format('%s %s', case when compiled then 'compiled SQL' else 'lead_matches' end, c))
from (values
  ('{"events": [{"event_name": "signup", "within_days": 7}]}', '{ada}'),
  ('{"events": [{"event_name": "signup", "within_days": 41}]}', '{Bea,ada}'),
  ('{"events": [{"event_name": "signup", "within_days": 7, "absent": true}]}', '{Bea,cy}'),
  ('{"events": [{"event_type": "track", "properties": {"plan": "pro"}, "within_days": 30}], "tags": {"any": ["vip"]}}', '{ada}'),
  ('{"emails": [{"action": "opened", "within_days": 7}]}', '{ada}'),
  ('{"emails": [{"action": "opened", "within_days": 2}]}', '{}'),
  ('{"emails": [{"action": "bounced", "within_days": 2, "absent": true}], "custom_fields": [{"key": "plan", "op": "eq", "value": "pro"}]}', '{cy}')
) as t (c, expected)
cross join (values (true), (false)) as how (compiled);

select * from finish();
rollback;
