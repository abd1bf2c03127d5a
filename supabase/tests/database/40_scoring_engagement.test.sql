-- Engagement scoring: an analytics event about one of the owner's leads (properties.lead_id,
-- else properties.email) earns the points of each active engagement rule it matches, within
-- the rule's cap per period, in the statement that records the event, with one ledger row
-- per event and rule. Events about no lead, or about another user's lead, earn nothing and
-- are recorded all the same.
begin;
\ir _helpers.psql

select plan(21);

do $$
begin
  perform tests.create_user('alice');
  perform tests.create_user('mallory');
  perform tests.insert_row('leads', 'alice', '{"email": "ada@acme.com", "company": "Acme"}');
  perform tests.insert_row('leads', 'alice', '{"email": "bob@acme.com"}');
  perform tests.insert_row('leads', 'mallory', '{"email": "mal@acme.com"}');
end;
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

create function tests.score(address text)
returns integer
language sql
as $$
  select l.score from public.leads as l where l.email = address
$$;

insert into public.scoring_rules (user_id, name, condition, points)
select tests.get_user_id('alice'), name, condition, points
from (values
  ('pricing page', '{"type": "event", "event_type": "page_view", "properties": {"path": "/pricing"}}'::jsonb, 5),
  ('human clicks', '{"type": "event", "event_name": "email_clicked", "properties": {"machine": false},
                     "cap": 12, "period": "day"}', 5),
  ('any email event', '{"type": "event", "event_type": "email"}', 1),
  ('unsubscribed', '{"type": "event", "event_name": "email_unsubscribed"}', -20)
) as r (name, condition, points);
insert into public.scoring_rules (user_id, name, condition, points, is_active)
values (tests.get_user_id('alice'), 'switched off', '{"type": "event", "event_type": "page_view"}', 100, false);

-- ==== acting as alice, as an app records events ====
select tests.authenticate_as('alice');

select lives_ok(
  format($$insert into public.analytics_events (event_type, event_name, properties)
           values ('page_view', 'pricing', '{"path": "/pricing", "lead_id": "%s"}')$$, tests.lead('ada@acme.com')),
  'alice records a page view about ada');
select is(tests.score('ada@acme.com'), 15, 'ada earns the pricing page rule''s 5 points (not the inactive rule''s)');
select is(
  (select g.source || ' ' || g.points || ' ' || g.reason from public.lead_score_ledger as g
   where g.lead_id = tests.lead('ada@acme.com') and g.source = 'event'),
  'event 5 pricing page: page_view/pricing', 'the ledger row names the rule and the event');
select isnt_empty(
  $$select from public.lead_score_ledger as g join public.analytics_events as e on e.id = g.event_id
    where g.lead_id = tests.lead('ada@acme.com')$$,
  'and points at the event that earned them');

insert into public.analytics_events (event_type, event_name, properties)
values ('page_view', 'pricing', '{"path": "/pricing/", "email": "ADA@acme.com"}'),
       ('page_view', 'home', '{"path": "/", "email": "bob@acme.com"}');
select is(tests.score('ada@acme.com'), 15, 'properties must contain the rule''s: /pricing/ is not /pricing');
select is(tests.score('bob@acme.com'), 0, 'bob''s home page view matches no rule');

insert into public.analytics_events (event_type, event_name, properties)
values ('page_view', 'pricing', '{"path": "/pricing", "email": "BOB@ACME.COM"}');
select is(tests.score('bob@acme.com'), 5, 'an event names its lead by email too, ignoring case');

-- Three human clicks in one statement and two more later: 5 + 5 + 2 (the cap is 12 a day),
-- then nothing; each also earns "any email event" (no cap).
insert into public.analytics_events (event_type, event_name, properties)
select 'email', 'email_clicked', jsonb_build_object('lead_id', tests.lead('bob@acme.com'), 'machine', false)
from generate_series(1, 3);
select is(tests.score('bob@acme.com'), 5 + 12 + 3, 'three clicks in one statement: 5 + 5 + 2 reach the cap of 12, plus 1 each');
insert into public.analytics_events (event_type, event_name, properties)
select 'email', 'email_clicked', jsonb_build_object('lead_id', tests.lead('bob@acme.com'), 'machine', false)
from generate_series(1, 2);
select is(tests.score('bob@acme.com'), 5 + 12 + 5, 'two more clicks today: the capped rule gives nothing more');
select is(
  (select array_agg(g.points order by g.points) from public.lead_score_ledger as g
   join public.scoring_rules as r on r.id = g.rule_id
   where g.lead_id = tests.lead('bob@acme.com') and r.name = 'human clicks'),
  array[2, 5, 5], 'the capped rule''s ledger: 5, 5 and the 2 left under the cap');

insert into public.analytics_events (event_type, event_name, properties)
values ('email', 'email_clicked', jsonb_build_object('lead_id', tests.lead('ada@acme.com'), 'machine', true));
select is(tests.score('ada@acme.com'), 16, 'a machine click is only "any email event"');

insert into public.analytics_events (event_type, event_name, properties)
values ('email', 'email_unsubscribed', jsonb_build_object('lead_id', tests.lead('ada@acme.com')));
select is(tests.score('ada@acme.com'), 16 + 1 - 20, 'an unsubscribe costs 20 points (and is an email event)');

-- Events that name no lead of alice's are recorded and earn nothing.
select lives_ok(
  format($$insert into public.analytics_events (event_type, event_name, properties)
           values ('page_view', 'pricing', '{"path": "/pricing", "lead_id": "not-a-uuid"}'),
                  ('page_view', 'pricing', '{"path": "/pricing", "lead_id": "%s"}'),
                  ('page_view', 'pricing', '{"path": "/pricing", "email": 42}')$$, tests.lead('mal@acme.com')),
  'events with a malformed lead_id, another user''s lead or a non-text email are recorded');
select is((select count(*)::integer from public.analytics_events where properties ->> 'path' = '/pricing'), 5,
  'all of alice''s pricing events are there');

-- ==== acting as mallory ====
select tests.authenticate_as('mallory');
insert into public.analytics_events (event_type, event_name, properties)
values ('page_view', 'pricing', jsonb_build_object('path', '/pricing', 'lead_id', tests.lead('ada@acme.com')));
select tests.clear_authentication();
select is(tests.score('ada@acme.com'), -3, 'mallory''s event about alice''s lead earns it nothing');
select is(tests.score('mal@acme.com'), 0, 'nor does alice''s event about mallory''s lead');

-- Engagement points are kept exactly for decay; the ledger agrees with the scores.
select is(
  (select points from private.lead_engagement where lead_id = tests.lead('bob@acme.com')), 22::numeric,
  'bob''s engagement points are kept for decay');
select is_empty(
  $$select l.id from public.leads as l
    where l.user_id = tests.get_user_id('alice')
      and l.score <> (select sum(g.points) from public.lead_score_ledger as g where g.lead_id = l.id)$$,
  'every score equals the sum of its ledger');

-- The email pipeline's own events count: a click recorded on a delivery.
select tests.authenticate_as_service_role();
select lives_ok(
  format($$insert into public.analytics_events (user_id, event_type, event_name, properties)
           values (%L, 'email', 'email_opened', '{"lead_id": "%s", "machine": false}')$$,
    tests.get_user_id('alice'), tests.lead('bob@acme.com')),
  'the service records an open for alice');
select tests.clear_authentication();
select is(tests.score('bob@acme.com'), 23, 'and bob earns "any email event"');

select ok(not has_function_privilege('authenticated', 'private.award_engagement()', 'EXECUTE'),
  'the awarding trigger function is the system''s');

select * from finish();
rollback;
