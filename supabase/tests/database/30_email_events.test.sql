-- Events and metrics (migrations email_events, email_metrics, email_tick): provider and
-- tracking events stamp each fact once, whatever order and however often they come; machines'
-- opens and clicks count as opens and clicks but not as human ones; opens, clicks and
-- unsubscribes are written to analytics_events (opens and clicks once per delivery an hour);
-- and the tick rolls the deliveries up into exact, per-recipient metrics, also after the campaign has finished.
begin;
\ir _helpers.psql

select plan(46);

do $$
begin
  perform tests.create_user('alice');
  perform tests.create_user('mallory');
end;
$$;

-- Queue rows of other campaigns (on a developer's database) wait while this file runs; the
-- rollback at the end undoes it.
update private.email_queue set paused = true where not paused;

-- alice's campaign to seven addresses: ada is a lead, sup@ is suppressed, fail@ will fail,
-- the others are plain addresses. Started, claimed, and reported: all sent but fail@.
create table tests.lead as
select tests.insert_row('leads', 'alice', '{"email": "ada@example.test", "first_name": "Ada"}') as id;
insert into public.email_suppressions (user_id, email, reason)
values (tests.get_user_id('alice'), 'sup@example.test', 'manual');
create table tests.campaign as
select tests.insert_row('email_campaigns', 'alice', '{"status": "scheduled", "send_at": "2020-01-01T00:00:00Z",
  "recipient_list": ["ada@example.test", "bob@example.test", "carol@example.test", "dave@example.test",
                     "erin@example.test", "fail@example.test", "sup@example.test"]}') as id;
grant select on tests.campaign to authenticated;
update public.email_campaigns set status = 'sending' where id = (select id from tests.campaign);
do $$
begin
  perform private.complete_email_batch('worker', (
    select jsonb_agg(case when c.email = 'fail@example.test'
      then jsonb_build_object('delivery_id', c.delivery_id, 'outcome', 'failed', 'error', '422 invalid')
      else jsonb_build_object('delivery_id', c.delivery_id, 'outcome', 'sent', 'provider_message_id', 're_' || split_part(c.email, '@', 1))
    end)
    from private.claim_email_batch('worker') as c));
end;
$$;

create function tests.d(name text)
returns uuid
language sql
as $$
  select id from public.email_deliveries
  where email_campaign_id = (select id from tests.campaign) and email = name || '@example.test'
$$;

-- Runs record_email_event and returns its result.
create function tests.event(kind text, who text, at text, machine boolean default false, details jsonb default '{}')
returns jsonb
language sql
as $$
  select private.record_email_event(kind, tests.d(who), at::timestamptz, machine, details)
$$;

select results_eq(
  $$select split_part(email, '@', 1), status from public.email_deliveries
    where email_campaign_id = (select id from tests.campaign) order by 1$$,
  $$values ('ada', 'sent'), ('bob', 'sent'), ('carol', 'sent'), ('dave', 'sent'), ('erin', 'sent'),
           ('fail', 'failed'), ('sup', 'suppressed')$$,
  'fixture: five sent, one failed, one suppressed'
);

-- Delivery facts ------------------------------------------------------------------------------
select is(tests.event('delivered', 'ada', '2030-01-01 10:00Z') ->> 'changed', 'true', 'a delivery event is recorded');
select is(
  (select row(status, delivered_at)::text from public.email_deliveries where id = tests.d('ada')),
  row('delivered', '2030-01-01 10:00Z'::timestamptz)::text,
  'the delivery is delivered, at the event''s time'
);
select is(tests.event('delivered', 'ada', '2030-01-01 10:05Z') ->> 'changed', 'false', 'the same fact again changes nothing');
select is((select delivered_at from public.email_deliveries where id = tests.d('ada')), '2030-01-01 10:00Z'::timestamptz,
  'the first time is kept');

select is(tests.event('delivery_delayed', 'bob', '2030-01-01 10:00Z') ->> 'status', 'delayed', 'a delay is recorded');
select is(tests.event('delivered', 'bob', '2030-01-01 11:00Z') ->> 'status', 'delivered', 'then the delivery');
select is(tests.event('delivery_delayed', 'bob', '2030-01-01 10:30Z') ->> 'status', 'delivered',
  'a delay reported late does not undo the delivery');

select is(tests.event('bounced', 'dave', '2030-01-01 10:00Z', false, '{"bounce_type": "hard"}') ->> 'status', 'bounced',
  'a bounce is recorded');
select is(tests.event('delivered', 'dave', '2030-01-01 09:59Z') ->> 'status', 'bounced',
  'a delivery reported after the bounce is stamped but does not hide it');

select is(tests.event('delivered', 'erin', '2030-01-01 10:00Z') ->> 'status', 'delivered', 'fixture: erin''s message is delivered');
select is(tests.event('complained', 'erin', '2030-01-01 12:00Z') ->> 'status', 'complained', 'a complaint is the strongest fact');
select is(tests.event('delivered', 'carol', '2030-01-01 10:00Z') ->> 'status', 'delivered', 'fixture: carol''s message is delivered');

select is(tests.event('delivered', 'sup', '2030-01-01 10:00Z') ->> 'changed', 'false',
  'an event for a delivery that was never sent (suppressed) is ignored');

-- Opens and clicks, human and machine ---------------------------------------------------------------
select is(
  tests.event('opened', 'ada', '2030-01-01 10:10Z', false, '{"user_agent": "Mail/1.0", "ip": "192.0.2.10"}') ->> 'changed',
  'true', 'ada opens the message');
select is(tests.event('opened', 'ada', '2030-01-01 10:20Z') ->> 'changed', 'false', 'and again: no fact changes');
select is(
  (select row(opened_at, human_opened_at)::text from public.email_deliveries where id = tests.d('ada')),
  row('2030-01-01 10:10Z'::timestamptz, '2030-01-01 10:10Z'::timestamptz)::text,
  'her first open stamps opened_at and human_opened_at'
);
select is(
  tests.event('clicked', 'ada', '2030-01-01 10:11Z', false, '{"url": "https://alice.example/offer", "ip": "not an ip"}') ->> 'changed',
  'true', 'ada clicks (a malformed ip is dropped, the event kept)');

select is(tests.event('opened', 'bob', '2030-01-01 11:00:01Z', true, '{"user_agent": "GoogleImageProxy"}') ->> 'changed', 'true',
  'a machine opens bob''s message');
select is(tests.event('clicked', 'bob', '2030-01-01 11:00:02Z', true, '{"url": "https://alice.example/offer"}') ->> 'changed', 'true',
  'a link scanner clicks in it');
select is(
  (select row(opened_at, human_opened_at, clicked_at, human_clicked_at)::text from public.email_deliveries where id = tests.d('bob')),
  row('2030-01-01 11:00:01Z'::timestamptz, null::timestamptz, '2030-01-01 11:00:02Z'::timestamptz, null::timestamptz)::text,
  'machine opens and clicks stamp opened_at and clicked_at, not the human ones'
);

select is(tests.event('opened', 'carol', '2030-01-01 10:00:03Z', true) ->> 'changed', 'true', 'a privacy proxy opens carol''s message');
select is(tests.event('opened', 'carol', '2030-01-01 15:00Z') ->> 'changed', 'true', 'later carol opens it herself');
select is(
  (select row(opened_at, human_opened_at)::text from public.email_deliveries where id = tests.d('carol')),
  row('2030-01-01 10:00:03Z'::timestamptz, '2030-01-01 15:00Z'::timestamptz)::text,
  'opened_at is the first open, human_opened_at the first human one'
);

select is(tests.event('unsubscribed', 'carol', '2030-01-01 15:01Z', false, '{"user_agent": "Mozilla/5.0"}') ->> 'suppressed',
  'unsubscribed', 'carol unsubscribes: her address is suppressed');
select is(tests.event('unsubscribed', 'carol', '2030-01-01 15:02Z') ->> 'changed', 'false', 'unsubscribing twice changes nothing');
select is((select unsubscribed_at from public.email_deliveries where id = tests.d('carol')), '2030-01-01 15:01Z'::timestamptz,
  'unsubscribed_at is the first unsubscribe');

-- Analytics -------------------------------------------------------------------------------------
select results_eq(
  $$select event_type, event_name, "timestamp", properties, user_agent, host(ip_address)
    from public.analytics_events
    where properties ->> 'delivery_id' = (select id::text from public.email_deliveries where email = 'ada@example.test')
    order by "timestamp"$$,
  format($$values
    ('email', 'email_opened', '2030-01-01 10:10Z'::timestamptz, %1$L::jsonb, 'Mail/1.0', '192.0.2.10'),
    ('email', 'email_clicked', '2030-01-01 10:11Z'::timestamptz, %2$L::jsonb, null, null)$$,
    jsonb_build_object('email_campaign_id', (select id from tests.campaign), 'lead_id', (select id from tests.lead),
      'delivery_id', tests.d('ada'), 'machine', false, 'count', 2),
    jsonb_build_object('email_campaign_id', (select id from tests.campaign), 'lead_id', (select id from tests.lead),
      'delivery_id', tests.d('ada'), 'machine', false, 'url', 'https://alice.example/offer', 'count', 1)),
  'an open and a click are analytics events with the campaign, lead and delivery ids, user agent and ip; '
  'the second open within the hour only counts on the first one''s row'
);
select is(
  (select array_agg(event_name || ':' || (properties ->> 'machine') order by "timestamp") from public.analytics_events
   where properties ->> 'delivery_id' in (tests.d('bob')::text, tests.d('carol')::text)),
  array['email_opened:true', 'email_opened:true', 'email_clicked:true', 'email_opened:false', 'email_unsubscribed:false'],
  'machine events are logged and flagged; an unsubscribe is logged once'
);
do $$ begin perform tests.event('opened', 'ada', '2030-01-01 10:10Z', false, '{"user_agent": "Mail/1.0"}'); end; $$;
select is(
  (select count(*)::integer from public.analytics_events where properties ->> 'delivery_id' = tests.d('ada')::text),
  2, 'recording the same open again (same time) logs nothing new'
);
select tests.authenticate_as('alice');
select is((select count(*)::integer from public.analytics_events where event_type = 'email'), 7,
  'the owner reads her email analytics');
select tests.authenticate_as('mallory');
select is((select count(*)::integer from public.analytics_events where event_type = 'email'), 0,
  'another user sees none of them');
select tests.clear_authentication();

-- Unknown input -----------------------------------------------------------------------------------
select is(private.record_email_event('opened', gen_random_uuid(), now()), null, 'an event for an unknown delivery is ignored (null)');
select throws_ok(
  format('select private.record_email_event(%L, %L, now())', 'read', tests.d('ada')),
  '22023', 'record_email_event: unknown kind ''read''', 'an unknown kind is refused');
select throws_ok(
  format('select private.record_email_event(%L, %L, now(), false, %L)', 'opened', tests.d('ada'), '[]'),
  '22023', 'record_email_event: details must be a JSON object', 'details must be an object');

-- Metrics ---------------------------------------------------------------------------------------
create table tests.ticks (n serial, result jsonb);
insert into tests.ticks (result) select private.email_tick();
select is(
  (select metrics from public.email_campaigns where id = (select id from tests.campaign)),
  '{"recipients": 7, "sent": 5, "delivered": 5, "opened": 3, "clicked": 2, "bounced": 1, "complained": 1,
    "unsubscribed": 1, "failed": 1, "suppressed": 1, "human_opened": 2, "human_clicked": 1}'::jsonb,
  'the metrics count each recipient once per fact, human opens and clicks apart'
);
select is(
  (select status from public.email_campaigns where id = (select id from tests.campaign)),
  'sent', 'the campaign finished: sent'
);
select is(
  (select count(*)::integer from private.email_metrics_stale where email_campaign_id = (select id from tests.campaign)),
  0, 'the tick cleared the campaign''s stale notes'
);

-- After it finished, events keep coming and the next tick counts them.
select is(tests.event('opened', 'erin', '2030-01-02 08:00Z') ->> 'changed', 'true', 'erin opens the message the next day');
select is(tests.event('opened', 'ada', '2030-01-02 08:00Z') ->> 'changed', 'false', 'ada opens it again');
select is(
  (select count(*)::integer from private.email_metrics_stale where email_campaign_id = (select id from tests.campaign)),
  1, 'only the event that changed a delivery noted the campaign as stale'
);
insert into tests.ticks (result) select private.email_tick();
select ok((select (result ->> 'refreshed')::integer >= 1 from tests.ticks where n = 2), 'the tick refreshed it');
select is(
  (select metrics from public.email_campaigns where id = (select id from tests.campaign)),
  '{"recipients": 7, "sent": 5, "delivered": 5, "opened": 4, "clicked": 2, "bounced": 1, "complained": 1,
    "unsubscribed": 1, "failed": 1, "suppressed": 1, "human_opened": 3, "human_clicked": 1}'::jsonb,
  'the metrics of a finished campaign still follow its events'
);
select is(
  (select metrics from public.email_campaigns where id = (select id from tests.campaign)),
  (select private.email_campaign_metrics(id) from tests.campaign),
  'and equal a fresh count'
);

-- Metrics are the system's: the owner cannot write them.
select tests.authenticate_as('alice');
select throws_ok(
  format($$update public.email_campaigns set metrics = '{"opened": 1000}' where id = %L$$, (select id from tests.campaign)),
  '42501', null, 'the owner cannot write metrics'
);
select tests.clear_authentication();

-- A campaign nobody touched keeps its metrics as they were counted.
create table tests.quiet as
select tests.insert_row('email_campaigns', 'alice', '{"status": "scheduled", "send_at": "2020-01-01T00:00:00Z",
  "recipient_list": ["q@example.test"]}') as id;
update public.email_campaigns set status = 'sending' where id = (select id from tests.quiet);
insert into tests.ticks (result) select private.email_tick();
update public.email_campaigns set metrics = '{"marker": true}' where id = (select id from tests.quiet);
insert into tests.ticks (result) select private.email_tick();
select is(
  (select metrics from public.email_campaigns where id = (select id from tests.quiet)),
  '{"marker": true}'::jsonb,
  'the tick recounts only campaigns whose deliveries changed'
);

select * from finish();
rollback;
