-- Every trigger type fires, in the statement that makes the change (a lead insert's through
-- the private.lead_changes inbox, which tests.fired expands first, as beacon-lead-changes does
-- within a second), by writing a
-- workflow_executions row (status running, trigger_data) and nothing else: lead_created,
-- lead_updated (named fields), lead_status_changed (from/to), lead_score_reached (upward
-- crossing only), tag_added, event (type/name/properties), email_event (opened, clicked,
-- bounced, unsubscribed, optionally one campaign, optionally humans only), schedule (see
-- 50_workflows_schedule) and manual (run_workflow). Conditions filter the leads; inactive
-- workflows never fire; each change fires a workflow at most once; other users' changes
-- fire nothing of alice's.
begin;
\ir _helpers.psql

select plan(40);

do $$
begin
  perform tests.create_user('alice');
  perform tests.create_user('mallory');
end;
$$;

-- The trigger_data of a workflow's executions not seen yet, oldest first; they are seen now.
create table tests.seen (execution_id uuid primary key);
create function tests.fired(name text)
returns jsonb[]
language plpgsql
as $$
declare
  found jsonb[];
begin
  perform tests.expand_lead_changes();
  with fresh as (
    select e.id, e.trigger_data, e.started_at
    from public.workflow_executions as e
    join public.workflows as w on w.id = e.workflow_id
    where w.name = fired.name and e.id not in (select s.execution_id from tests.seen as s)
  ),
  seen as (
    insert into tests.seen select f.id from fresh as f
  )
  select coalesce(array_agg(f.trigger_data - 'lead_id' order by f.started_at, f.trigger_data::text), '{}')
  into found
  from fresh as f;
  return found;
end;
$$;
-- Forgets every execution so far.
create function tests.forget()
returns void
language sql
as $$
  insert into tests.seen select e.id from public.workflow_executions as e on conflict do nothing
$$;
create function tests.lead(address text)
returns uuid
language sql
security definer
set search_path = ''
as $$
  select l.id from public.leads as l where l.email = address
$$;
grant execute on function tests.lead(text) to authenticated;
grant all on tests.seen to authenticated;

-- One workflow per trigger.
do $$ begin perform tests.workflow('created', '{"type": "lead_created"}'); end; $$;
do $$ begin perform tests.workflow('created b2b', '{"type": "lead_created", "conditions": {"tags": {"any": ["b2b"]}}}'); end; $$;
do $$ begin perform tests.workflow('never', '{"type": "lead_created"}', overrides => '{"is_active": false}'); end; $$;
do $$ begin perform tests.workflow('company or plan', '{"type": "lead_updated", "fields": ["company", "custom_fields.plan"]}'); end; $$;
do $$ begin perform tests.workflow('qualified', '{"type": "lead_status_changed", "from": "new", "to": "qualified"}'); end; $$;
do $$ begin perform tests.workflow('any status', '{"type": "lead_status_changed"}'); end; $$;
do $$ begin perform tests.workflow('reached 20', '{"type": "lead_score_reached", "score": 20}'); end; $$;
do $$ begin perform tests.workflow('vip', '{"type": "tag_added", "tag": "vip"}'); end; $$;
do $$ begin perform tests.workflow('any tag', '{"type": "tag_added", "conditions": {"statuses": ["new", "qualified"]}}'); end; $$;
do $$ begin perform tests.workflow('pricing', '{"type": "event", "event_type": "page_view", "properties": {"path": "/pricing"}}'); end; $$;
do $$ begin perform tests.workflow('signup', '{"type": "event", "event_name": "signup"}'); end; $$;
do $$ begin perform tests.workflow('manual', '{"type": "manual"}'); end; $$;
do $$ begin perform tests.forget(); end; $$;

-- lead_created (and tag_added for the tags it is created with) ------------------------------

-- ==== acting as alice, through the app ====
select tests.authenticate_as('alice');
insert into public.leads (email, company, tags) values ('ada@acme.com', 'Acme', '{b2b,vip}');
insert into public.leads (email) values ('bob@acme.com'), ('cy@acme.com');
select tests.clear_authentication();

select is(tests.fired('created'),
  array['{"trigger": "lead_created"}'::jsonb, '{"trigger": "lead_created"}', '{"trigger": "lead_created"}'],
  'lead_created fires once per new lead, also for a multi-row insert');
select is(cardinality(tests.fired('created b2b')), 1, 'a condition on tags lets only the b2b lead through');
select is(tests.fired('never'), '{}'::jsonb[], 'an inactive workflow never fires');
select is(tests.fired('vip'), array['{"tags": ["b2b", "vip"], "trigger": "tag_added"}'::jsonb],
  'tag_added fires for tags a lead is created with');
select is(cardinality(tests.fired('any tag')), 1, 'tag_added without a tag fires for any tag');
select is(
  (select distinct e.status from public.workflow_executions as e join public.workflows as w on w.id = e.workflow_id
   where w.name = 'created'),
  'running', 'executions start as running, their steps left to the worker');
select is(
  (select count(*)::integer from private.workflow_runs as r join public.workflows as w on w.id = r.workflow_id
   where w.name = 'created'),
  3, 'each has its run queued');
select is(
  (select array_agg(distinct e.trigger_data ->> 'lead_id') = array_agg(distinct l.id::text)
   from public.workflow_executions as e join public.workflows as w on w.id = e.workflow_id, public.leads as l
   where w.name = 'created' and l.user_id = tests.get_user_id('alice')),
  true, 'trigger_data names the lead');

-- lead_updated ----------------------------------------------------------------------------
update public.leads set company = 'Acme Inc' where email = 'ada@acme.com';
select is(tests.fired('company or plan'), array['{"changed": ["company"], "trigger": "lead_updated"}'::jsonb],
  'lead_updated fires when a named field changes, and says what changed');
update public.leads set first_name = 'Bob', source = 'ads' where email = 'bob@acme.com';
select is(tests.fired('company or plan'), '{}'::jsonb[], 'not when other fields change');
update public.leads set custom_fields = '{"plan": "pro", "seats": 3}' where email = 'bob@acme.com';
select is(tests.fired('company or plan'),
  array['{"changed": ["custom_fields", "custom_fields.plan", "custom_fields.seats"], "trigger": "lead_updated"}'::jsonb],
  'a named custom field (custom_fields.plan) counts');
update public.leads set custom_fields = '{"plan": "pro", "seats": 4}' where email = 'bob@acme.com';
select is(tests.fired('company or plan'), '{}'::jsonb[], 'not when another custom field changes');
update public.leads set company = company where email = 'ada@acme.com';
select is(tests.fired('company or plan'), '{}'::jsonb[], 'an update that changes nothing fires nothing');

-- lead_status_changed ---------------------------------------------------------------------
update public.leads set status = 'qualified' where email in ('ada@acme.com', 'bob@acme.com');
select is(cardinality(tests.fired('qualified')), 2, 'from new to qualified: fires for each lead');
select is(tests.fired('any status'),
  array['{"to": "qualified", "from": "new", "trigger": "lead_status_changed"}'::jsonb,
        '{"to": "qualified", "from": "new", "trigger": "lead_status_changed"}'],
  'without from/to it fires for any change, with both in trigger_data');
update public.leads set status = 'contacted' where email = 'ada@acme.com';
select is(tests.fired('qualified'), '{}'::jsonb[], 'qualified to contacted is not new to qualified');
select is(cardinality(tests.fired('any status')), 1, 'but it is a status change');

-- lead_score_reached ----------------------------------------------------------------------
insert into public.scoring_rules (user_id, name, condition, points)
values (tests.get_user_id('alice'), 'visit', '{"type": "event", "event_type": "visit"}', 6);
insert into public.analytics_events (user_id, event_type, event_name, properties)
select tests.get_user_id('alice'), 'visit', 'home', jsonb_build_object('lead_id', tests.lead('cy@acme.com'))
from generate_series(1, 3);
select is(tests.fired('reached 20'), '{}'::jsonb[], 'cy at 18 has not reached 20');
insert into public.analytics_events (user_id, event_type, event_name, properties)
values (tests.get_user_id('alice'), 'visit', 'home', jsonb_build_object('lead_id', tests.lead('cy@acme.com')));
select is(tests.fired('reached 20'),
  array['{"score": 24, "trigger": "lead_score_reached", "threshold": 20, "from_score": 18}'::jsonb],
  'the score crossing 20 upwards fires, with the scores');
insert into public.analytics_events (user_id, event_type, event_name, properties)
values (tests.get_user_id('alice'), 'visit', 'home', jsonb_build_object('lead_id', tests.lead('cy@acme.com')));
select is(tests.fired('reached 20'), '{}'::jsonb[], 'rising further does not fire again');
update private.lead_engagement set decayed_at = now() - interval '60 days' where lead_id = tests.lead('cy@acme.com');
do $$ begin perform private.decay_engagement(); end; $$;
select is(tests.fired('reached 20'), '{}'::jsonb[], 'falling below does not fire');
insert into public.analytics_events (user_id, event_type, event_name, properties)
select tests.get_user_id('alice'), 'visit', 'home', jsonb_build_object('lead_id', tests.lead('cy@acme.com'))
from generate_series(1, 2);
select is(cardinality(tests.fired('reached 20')), 1, 'crossing upwards again fires again');
insert into public.leads (user_id, email, company, phone, tags)
values (tests.get_user_id('alice'), 'dee@acme.com', 'Acme', '555 0100', '{}');
select is(tests.fired('reached 20'), '{}'::jsonb[], 'a new lead at 15 has not reached 20');

-- tag_added ---------------------------------------------------------------------------------
update public.leads set tags = tags || '{vip}' where email = 'dee@acme.com';
select is(tests.fired('vip'), array['{"tags": ["vip"], "trigger": "tag_added"}'::jsonb], 'adding the tag fires');
update public.leads set tags = '{vip,other}' where email = 'dee@acme.com';
select is(tests.fired('vip'), '{}'::jsonb[], 'keeping it while adding another does not');
select is(tests.fired('any tag'),
  array['{"tags": ["other"], "trigger": "tag_added"}'::jsonb, '{"tags": ["vip"], "trigger": "tag_added"}'],
  'a tag_added without tag fires for each change adding one, with the tags it added');
update public.leads set tags = '{}', status = 'lost' where email = 'dee@acme.com';
update public.leads set tags = '{again}' where email = 'dee@acme.com';
select is(tests.fired('any tag'), '{}'::jsonb[], 'the condition (status new or qualified) stops it for a lost lead');

-- event ---------------------------------------------------------------------------------------
select tests.authenticate_as('alice');
insert into public.analytics_events (event_type, event_name, properties)
values ('page_view', 'pricing', jsonb_build_object('path', '/pricing', 'lead_id', tests.lead('bob@acme.com'))),
       ('page_view', 'home', jsonb_build_object('path', '/', 'lead_id', tests.lead('bob@acme.com'))),
       ('page_view', 'pricing', '{"path": "/pricing"}'),
       ('form', 'signup', '{"email": "ADA@acme.com", "plan": "pro"}');
select tests.clear_authentication();
select is(
  (select array_agg((d ->> 'event_name') || ' ' || (d ->> 'properties')) from unnest(tests.fired('pricing')) as d),
  array['pricing {"path": "/pricing", "lead_id": "' || tests.lead('bob@acme.com') || '"}', 'pricing {"path": "/pricing"}'],
  'event fires for each matching event, with its properties, about a lead or not');
select is(
  (select array_agg(e.trigger_data ->> 'lead_id' order by e.trigger_data ->> 'lead_id') from public.workflow_executions as e
   join public.workflows as w on w.id = e.workflow_id where w.name = 'pricing'),
  array[tests.lead('bob@acme.com')::text, null], 'the lead is the one the event names, if any');
select is(
  (select (d ->> 'event_type') || ' ' || (d ->> 'event_id' is not null)::text from unnest(tests.fired('signup')) as d),
  'form true', 'an event named by its name, about a lead found by email, carries its id');

-- email_event -------------------------------------------------------------------------------
create table tests.delivery as
select tests.insert_row('email_campaigns', 'alice') as campaign, tests.insert_row('email_campaigns', 'alice') as other;
do $$ begin perform tests.workflow('opened', '{"type": "email_event", "event": "opened"}'); end; $$;
do $$ begin perform tests.workflow('human opened', '{"type": "email_event", "event": "opened", "human_only": true}'); end; $$;
do $$ begin perform tests.workflow('clicked here', jsonb_build_object('type', 'email_event', 'event', 'clicked',
  'email_campaign_id', (select campaign from tests.delivery))); end; $$;
do $$ begin perform tests.workflow('bounced', '{"type": "email_event", "event": "bounced"}'); end; $$;
do $$ begin perform tests.workflow('unsubscribed', '{"type": "email_event", "event": "unsubscribed"}'); end; $$;
insert into public.email_deliveries (user_id, email_campaign_id, lead_id, email, idempotency_key)
select tests.get_user_id('alice'), c, tests.lead(a), a, c || a
from tests.delivery, unnest(array[campaign, other]) as c, unnest(array['ada@acme.com', 'bob@acme.com']) as a;
create function tests.delivery(campaign uuid, address text)
returns uuid
language sql
as $$
  select d.id from public.email_deliveries as d where d.email_campaign_id = campaign and d.email = address
$$;
do $$ begin perform tests.forget(); end; $$;

do $$ begin perform private.record_email_event('opened', tests.delivery(campaign, 'ada@acme.com'), now(), true) from tests.delivery; end; $$;
select is(
  (select array_agg((d ->> 'event') || ' ' || (d ->> 'delivery_id' = tests.delivery(campaign, 'ada@acme.com')::text))
   from tests.delivery, unnest(tests.fired('opened')) as d),
  array['opened true'], 'opened fires on the first open of a delivery, naming it');
select is(tests.fired('human opened'), '{}'::jsonb[], 'a machine open does not count for human_only');
do $$ begin perform private.record_email_event('opened', tests.delivery(campaign, 'ada@acme.com'), now(), false) from tests.delivery; end; $$;
select is(tests.fired('opened'), '{}'::jsonb[], 'a second open of the same delivery fires nothing more');
select is(cardinality(tests.fired('human opened')), 1, 'the first human open fires human_only');
do $$ begin perform private.record_email_event('clicked', tests.delivery(other, 'ada@acme.com'), now()) from tests.delivery; end; $$;
do $$ begin perform private.record_email_event('clicked', tests.delivery(campaign, 'bob@acme.com'), now()) from tests.delivery; end; $$;
select is(
  (select array_agg(d ->> 'email_campaign_id') from unnest(tests.fired('clicked here')) as d),
  (select array[campaign::text] from tests.delivery), 'clicked fires for the one campaign named, not another');
do $$ begin perform private.record_email_event('bounced', tests.delivery(other, 'bob@acme.com'), now(), false,
  '{"bounce_type": "hard"}') from tests.delivery; end; $$;
select is(cardinality(tests.fired('bounced')), 1, 'bounced fires');
do $$ begin perform private.record_email_event('unsubscribed', tests.delivery(other, 'ada@acme.com'), now()) from tests.delivery; end; $$;
do $$ begin perform private.record_email_event('unsubscribed', tests.delivery(other, 'ada@acme.com'), now()) from tests.delivery; end; $$;
select is(cardinality(tests.fired('unsubscribed')), 1, 'unsubscribed fires once, however often it is reported');

-- manual ------------------------------------------------------------------------------------
create table tests.manual (id uuid);
grant insert, select on tests.manual to authenticated;
select tests.authenticate_as('alice');
insert into tests.manual
select public.run_workflow((select id from public.workflows where name = 'manual'), tests.lead('ada@acme.com'));
select is(
  (select id from tests.manual),
  (select e.id from public.workflow_executions as e join public.workflows as w on w.id = e.workflow_id
   where w.name = 'manual'),
  'run_workflow starts the workflow on the lead and returns the execution');
select tests.clear_authentication();
select is(
  (select (d ->> 'trigger') || ' ' || (d ->> 'requested_by' = tests.get_user_id('alice')::text) from unnest(tests.fired('manual')) as d),
  'manual true', 'trigger_data says who asked');

-- Other users' changes fire nothing of alice's ---------------------------------------------
do $$
begin
  perform tests.insert_row('leads', 'mallory', '{"email": "mal@acme.com", "tags": ["vip"]}');
end;
$$;
update public.leads set company = 'Evil', status = 'qualified' where email = 'mal@acme.com';
select tests.expand_lead_changes();
insert into public.analytics_events (user_id, event_type, event_name, properties)
values (tests.get_user_id('mallory'), 'page_view', 'pricing', '{"path": "/pricing"}');
select is_empty(
  $$select from public.workflow_executions where id not in (select execution_id from tests.seen)$$,
  'mallory''s leads and events fire none of alice''s workflows');

select * from finish();
rollback;
