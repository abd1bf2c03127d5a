-- Opens and clicks do not amplify (migrations email_event_windows, email_events_durable): a
-- delivery's opens write one analytics row, and earn at most one score award, per hour;
-- repeats only raise the row's count. Clicks have their window apart, and so do machines.
begin;
\ir _helpers.psql

select plan(12);

do $$
begin
  perform tests.create_user('alice');
end;
$$;

-- alice: a lead (ada) with a delivery sent to her, and an engagement rule worth 5 per open.
create table tests.fixture as
select
  tests.insert_row('leads', 'alice', '{"email": "ada@example.test"}') as lead_id,
  tests.insert_row('email_campaigns', 'alice', '{"recipient_list": ["ada@example.test"]}') as campaign_id;
insert into public.scoring_rules (user_id, name, points, condition)
values (tests.get_user_id('alice'), 'opens', 5, '{"type": "event", "event_type": "email", "event_name": "email_opened"}');
insert into public.email_deliveries (user_id, email_campaign_id, lead_id, email, status, sent_at, idempotency_key)
select tests.get_user_id('alice'), campaign_id, lead_id, 'ada@example.test', 'sent', '2030-01-01 09:00Z', gen_random_uuid()::text
from tests.fixture;
create table tests.delivery as select id from public.email_deliveries where email = 'ada@example.test';

create function tests.opens()
returns table (event_name text, "timestamp" timestamptz, machine boolean, count integer)
language sql
as $$
  select a.event_name, a."timestamp", (a.properties ->> 'machine')::boolean, (a.properties ->> 'count')::integer
  from public.analytics_events as a
  where a.properties ->> 'delivery_id' = (select id::text from tests.delivery)
  order by a."timestamp", a.event_name
$$;

-- 50 opens within a minute ---------------------------------------------------------------------
do $$
begin
  perform private.record_email_event('opened', (select id from tests.delivery), '2030-01-01 10:00Z'::timestamptz + n * interval '1 second')
  from generate_series(0, 49) as n;
end;
$$;
select results_eq('select * from tests.opens()',
  $$values ('email_opened', '2030-01-01 10:00Z'::timestamptz, false, 50)$$,
  '50 opens in a minute: one analytics row, counting 50');
select is((select score from public.leads where id = (select lead_id from tests.fixture)), 5,
  'one score award');
select is((select count(*)::integer from public.lead_score_ledger where lead_id = (select lead_id from tests.fixture)), 1,
  'one ledger row');
select is((select count from private.email_event_windows where delivery_id = (select id from tests.delivery)), 50,
  'the window counts 50 opens');
select is((select opened_at from public.email_deliveries where id = (select id from tests.delivery)),
  '2030-01-01 10:00Z'::timestamptz, 'opened_at is the first open');

-- A machine's open has its window apart; a click has its own; an hour later a new window --------
do $$ begin perform private.record_email_event('opened', (select id from tests.delivery), '2030-01-01 10:30Z', true); end; $$;
do $$ begin perform private.record_email_event('opened', (select id from tests.delivery), '2030-01-01 10:31Z', true); end; $$;
do $$ begin perform private.record_email_event('clicked', (select id from tests.delivery), '2030-01-01 10:32Z', false,
  '{"url": "https://alice.example/a"}'); end; $$;
do $$ begin perform private.record_email_event('clicked', (select id from tests.delivery), '2030-01-01 10:33Z', false,
  '{"url": "https://alice.example/b"}'); end; $$;
do $$ begin perform private.record_email_event('opened', (select id from tests.delivery), '2030-01-01 10:59:59Z'); end; $$;
do $$ begin perform private.record_email_event('opened', (select id from tests.delivery), '2030-01-01 11:00Z'); end; $$;
select results_eq('select * from tests.opens()',
  $$values
    ('email_opened', '2030-01-01 10:00Z'::timestamptz, false, 51),
    ('email_opened', '2030-01-01 10:30Z'::timestamptz, true, 2),
    ('email_clicked', '2030-01-01 10:32Z'::timestamptz, false, 2),
    ('email_opened', '2030-01-01 11:00Z'::timestamptz, false, 1)$$,
  'machines and clicks have windows of their own; an open an hour after the window started opens a new one');
select is((select score from public.leads where id = (select lead_id from tests.fixture)), 15,
  'the machine''s row and the new window''s each award once more; the repeats and clicks nothing');
select is(
  (select properties ->> 'url' from public.analytics_events where event_name = 'email_clicked'
   and properties ->> 'delivery_id' = (select id::text from tests.delivery)),
  'https://alice.example/a', 'the click row keeps the first click''s URL'
);

-- Replays and late reports -----------------------------------------------------------------------
do $$ begin perform private.record_email_event('opened', (select id from tests.delivery), '2030-01-01 11:00Z'); end; $$;
select is((select count from tests.opens() where "timestamp" = '2030-01-01 11:00Z' and not machine), 1,
  'the same open again (same time: a replay) adds nothing, not even to the count');
do $$ begin perform private.record_email_event('opened', (select id from tests.delivery), '2030-01-01 09:30Z'); end; $$;
select is((select count(*)::integer from tests.opens()), 4, 'an open reported late, before the window, logs no row');
select is((select count from tests.opens() where "timestamp" = '2030-01-01 11:00Z' and not machine), 2,
  'it counts in the current window');

-- The owner reads her counts.
select tests.authenticate_as('alice');
select is(
  (select sum((properties ->> 'count')::integer)::integer from public.analytics_events where event_name = 'email_opened'),
  55, 'the owner reads every open in the counts of her analytics rows'
);
select tests.clear_authentication();

select * from finish();
rollback;
