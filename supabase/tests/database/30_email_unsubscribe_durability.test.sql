-- An unsubscribe is never lost (migrations email_events_durable, email_unsubscribe_effects,
-- email_unsubscribe_keys, email_tick_isolation): the suppression and unsubscribed_at are
-- written whatever the side effects do. With the owner's scoring (the trigger that awards
-- engagement points) and email_event workflows both throwing, an unsubscribe still
-- suppresses the address and stamps the delivery, and the side effects wait in
-- private.email_unsubscribe_effects; the tick retries them, each part on its own, until
-- they succeed. A campaign deleted after sending leaves its unsubscribe keys for 60 days:
-- its links still unsubscribe.
begin;
\ir _helpers.psql

select plan(27);

do $$
begin
  perform tests.create_user('alice');
end;
$$;
update private.email_queue set paused = true where not paused;

-- alice: a lead (ada), a campaign sent to ada and bob, an email_event workflow on
-- unsubscribes, and an engagement rule for them.
create table tests.fixture as
select
  tests.insert_row('leads', 'alice', '{"email": "ada@example.test"}') as lead_id,
  tests.insert_row('email_campaigns', 'alice', '{"recipient_list": ["ada@example.test", "bob@example.test"],
    "from_name": "Alice Shop"}') as campaign_id,
  tests.insert_row('workflows', 'alice', '{"name": "goodbye", "trigger_config": {"type": "email_event", "event": "unsubscribed"},
    "action_config": {"steps": [{"type": "add_tag", "tag": "gone"}]}, "is_active": true}') as workflow_id;
insert into public.scoring_rules (user_id, name, points, condition)
values (tests.get_user_id('alice'), 'unsubscribed', -20,
        '{"type": "event", "event_type": "email", "event_name": "email_unsubscribed"}');
insert into public.email_deliveries (user_id, email_campaign_id, lead_id, email, status, sent_at, idempotency_key)
select tests.get_user_id('alice'), f.campaign_id, case when a = 'ada' then f.lead_id end, a || '@example.test', 'sent',
       now() - interval '1 hour', gen_random_uuid()::text
from tests.fixture as f, unnest(array['ada', 'bob', 'carol']) as a;

create function tests.d(name text)
returns uuid
language sql
as $$ select id from public.email_deliveries where email = name || '@example.test' $$;

-- Break both side effects, as a bad rule or workflow of the owner's would (rolled back at the end).
create table tests.saved as
select pg_get_functiondef('private.award_engagement()'::regprocedure) as scoring,
       pg_get_functiondef('private.match_email_event_workflows()'::regprocedure) as workflows;
create or replace function private.award_engagement()
returns trigger language plpgsql set search_path = '' as $$
begin
  raise exception 'scoring rule "unsubscribed" cannot be evaluated';
end;
$$;
create or replace function private.match_email_event_workflows()
returns trigger language plpgsql set search_path = '' as $$
begin
  raise exception 'workflow "goodbye" cannot be matched';
end;
$$;
select throws_ok(
  format($$update public.email_deliveries set opened_at = now() where id = %L$$, tests.d('bob')),
  'P0001', 'workflow "goodbye" cannot be matched', 'fixture: the workflows trigger throws');

-- ada unsubscribes while both are broken ---------------------------------------------------------
select is(
  private.record_email_event('unsubscribed', tests.d('ada'), '2030-01-01 10:00Z') ->> 'suppressed',
  'unsubscribed', 'ada unsubscribes: no error'
);
select is(
  (select reason from public.email_suppressions where user_id = tests.get_user_id('alice') and email = 'ada@example.test'),
  'unsubscribed', 'her address is suppressed'
);
select is(
  (select unsubscribed_at from public.email_deliveries where id = tests.d('ada')),
  '2030-01-01 10:00Z'::timestamptz, 'her delivery carries unsubscribed_at'
);
select is(
  (select count(*)::integer from public.analytics_events where properties ->> 'delivery_id' = tests.d('ada')::text),
  0, 'the analytics event (and its scoring) did not happen yet'
);
select is(
  (select row(workflows_pending, analytics_pending, attempts, last_error)::text
   from private.email_unsubscribe_effects where delivery_id = tests.d('ada')),
  row(true, true, 1, 'scoring rule "unsubscribed" cannot be evaluated')::text,
  'both side effects wait for a retry, with the last reason'
);
select is(
  private.record_email_event('unsubscribed', tests.d('ada'), '2030-01-01 10:05Z') ->> 'changed',
  'false', 'unsubscribing again changes nothing'
);

-- A retry that is not due yet waits.
create table tests.ticks (n serial, result jsonb);
insert into tests.ticks (result) select private.email_tick();
select is((select attempts from private.email_unsubscribe_effects where delivery_id = tests.d('ada')), 1,
  'the tick leaves a retry that is not due');

-- Scoring is repaired; the workflow is still broken --------------------------------------------
do $$ begin execute (select scoring from tests.saved); end; $$;
update private.email_unsubscribe_effects set run_after = now() - interval '1 second';
insert into tests.ticks (result) select private.email_tick();
select is(
  (select count(*)::integer from public.analytics_events
   where properties ->> 'delivery_id' = tests.d('ada')::text and event_name = 'email_unsubscribed'),
  1, 'the retry logs the analytics event'
);
select is(
  (select score from public.leads where id = (select lead_id from tests.fixture)),
  -20, 'and the scoring rule awards its points'
);
select is(
  (select row(workflows_pending, analytics_pending, attempts, last_error)::text
   from private.email_unsubscribe_effects where delivery_id = tests.d('ada')),
  row(true, false, 2, 'workflow "goodbye" cannot be matched')::text,
  'the workflow part waits again, with backoff'
);
select ok(
  (select run_after > now() + interval '1 minute' from private.email_unsubscribe_effects where delivery_id = tests.d('ada')),
  'the next attempt waits longer'
);
select is((select unsubscribed_at from public.email_deliveries where id = tests.d('ada')),
  '2030-01-01 10:00Z'::timestamptz, 'the failed retry left the unsubscribe as it was');

-- The workflow is repaired ------------------------------------------------------------------------
do $$ begin execute (select workflows from tests.saved); end; $$;
update private.email_unsubscribe_effects set run_after = now() - interval '1 second';
insert into tests.ticks (result) select private.email_tick();
select is((select (result ->> 'effects_retried')::integer from tests.ticks where n = 3), 1, 'the tick completes the retry');
select is(
  (select count(*)::integer from public.workflow_executions where workflow_id = (select workflow_id from tests.fixture)),
  1, 'the workflow started, once'
);
select is((select count(*)::integer from private.email_unsubscribe_effects), 0, 'nothing is left to retry');
select is((select unsubscribed_at from public.email_deliveries where id = tests.d('ada')),
  '2030-01-01 10:00Z'::timestamptz, 'unsubscribed_at is the first unsubscribe''s');
select is(
  (select count(*)::integer from public.analytics_events
   where properties ->> 'delivery_id' = tests.d('ada')::text and event_name = 'email_unsubscribed'),
  1, 'the analytics event was not logged twice'
);

-- Nothing broken: side effects run at once -----------------------------------------------------------
do $$ begin perform private.record_email_event('unsubscribed', tests.d('carol'), '2030-01-01 11:00Z'); end; $$;
select is(
  (select row(
     (select count(*) from public.analytics_events where properties ->> 'delivery_id' = tests.d('carol')::text),
     (select count(*) from private.email_unsubscribe_effects))::text),
  row(1, 0)::text, 'with nothing broken, the side effects run with the unsubscribe and nothing waits'
);

-- The campaign is deleted after sending --------------------------------------------------------------
create table tests.unsent as
select tests.insert_row('email_campaigns', 'alice', '{"recipient_list": ["dan@example.test"]}') as campaign_id;
insert into public.email_deliveries (user_id, email_campaign_id, email, idempotency_key)
select tests.get_user_id('alice'), campaign_id, 'dan@example.test', gen_random_uuid()::text from tests.unsent;
create table tests.dan as select tests.d('dan') as id;
grant select on tests.fixture, tests.unsent to authenticated;

select tests.authenticate_as('alice');
select tests.affects(format('delete from public.email_campaigns where id = %L returning id', (select campaign_id from tests.fixture)),
  1, 'alice deletes the campaign she sent');
select tests.affects(format('delete from public.email_campaigns where id = %L returning id', (select campaign_id from tests.unsent)),
  1, 'and one that never sent anything');
select tests.clear_authentication();

select is(
  (select array_agg(row(email, sender, unsubscribed_at is not null, kept_until > now() + interval '59 days')::text order by email)
   from private.email_unsubscribe_keys where user_id = tests.get_user_id('alice')),
  array[row('ada@example.test', 'Alice Shop', true, true)::text, row('bob@example.test', 'Alice Shop', false, true)::text,
        row('carol@example.test', 'Alice Shop', true, true)::text],
  'the sent deliveries'' unsubscribe keys outlive the campaign for 60 days; the unsent one leaves none'
);
select is(
  (select private.record_email_event('unsubscribed', k.delivery_id, '2030-01-02 09:00Z') ->> 'suppressed'
   from private.email_unsubscribe_keys as k where k.email = 'bob@example.test'),
  'unsubscribed', 'bob unsubscribes through the deleted campaign''s link'
);
select is(
  (select reason from public.email_suppressions where user_id = tests.get_user_id('alice') and email = 'bob@example.test'),
  'unsubscribed', 'his address is suppressed'
);
select is(
  private.record_email_event('unsubscribed', (select id from tests.dan), now()),
  null, 'a link of a deleted campaign that never sent is unknown'
);
update private.email_unsubscribe_keys set kept_until = now() - interval '1 second' where email = 'ada@example.test';
select is(
  (select private.record_email_event('unsubscribed', k.delivery_id, now()) from private.email_unsubscribe_keys as k
   where k.email = 'ada@example.test'),
  null, 'a key past kept_until no longer answers'
);

-- Deleting the owner's account deletes the campaigns and their keys, without an error.
delete from auth.users where id = tests.get_user_id('alice');
select is((select count(*)::integer from private.email_unsubscribe_keys where email like '%@example.test'
  and user_id not in (select id from auth.users)), 0, 'deleting the account takes the keys with it');

select * from finish();
rollback;
