-- Engagement decay: private.decay_engagement (pg_cron, nightly) halves engagement points once
-- per half-life of their owner (30 days without settings, never when null), in proportion
-- to the time since they last decayed; the score follows the rounded points with a ledger
-- row; profile points never decay.
begin;
\ir _helpers.psql

select plan(18);

do $$
begin
  perform tests.create_user('alice');
  perform tests.create_user('bob');
  perform tests.create_user('carol');
  perform tests.insert_row('leads', 'alice', '{"email": "a1@acme.com", "company": "Acme"}');
  perform tests.insert_row('leads', 'alice', '{"email": "a2@acme.com"}');
  perform tests.insert_row('leads', 'bob', '{"email": "b1@acme.com"}');
  perform tests.insert_row('leads', 'carol', '{"email": "c1@acme.com"}');
end;
$$;

insert into public.scoring_settings (user_id, engagement_half_life_days)
values (tests.get_user_id('alice'), 7), (tests.get_user_id('carol'), null);
insert into public.scoring_rules (user_id, name, condition, points)
select tests.get_user_id(u), 'visits', '{"type": "event", "event_type": "visit"}', 40
from unnest(array['alice', 'bob', 'carol']) as u;
insert into public.analytics_events (user_id, event_type, event_name, properties)
select l.user_id, 'visit', 'home', jsonb_build_object('lead_id', l.id)
from public.leads as l
where l.email in ('a1@acme.com', 'b1@acme.com', 'c1@acme.com');
insert into public.analytics_events (user_id, event_type, event_name, properties)
select l.user_id, 'visit', 'home', jsonb_build_object('lead_id', l.id)
from public.leads as l, generate_series(1, 1)
where l.email = 'a2@acme.com';

create function tests.score(address text)
returns integer
language sql
as $$
  select l.score from public.leads as l where l.email = address
$$;
create function tests.age(address text, by interval)
returns void
language sql
as $$
  update private.lead_engagement as e set decayed_at = now() - by
  from public.leads as l where l.id = e.lead_id and l.email = address
$$;

select is(array[tests.score('a1@acme.com'), tests.score('b1@acme.com'), tests.score('c1@acme.com')], array[50, 40, 40],
  'each lead earned 40 engagement points (a1 also has 10 profile points)');

-- Seven days later for alice (her half-life), thirty for bob (the default), a year for carol.
select tests.age('a1@acme.com', '7 days');
select tests.age('a2@acme.com', '14 days');
select tests.age('b1@acme.com', '30 days');
select tests.age('c1@acme.com', '365 days');
select is(private.decay_engagement(), 3, 'the nightly run changes three scores');

select is(tests.score('a1@acme.com'), 10 + 20, 'after one half-life alice''s 40 points are 20; her profile points stay');
select is(tests.score('a2@acme.com'), 10, 'after two half-lives, 40 points are 10');
select is(tests.score('b1@acme.com'), 20, 'bob has no settings: his points halve in 30 days');
select is(tests.score('c1@acme.com'), 40, 'carol''s half-life is null: her points never decay');
select is(
  (select g.points || ' ' || g.source || ' ' || g.reason from public.lead_score_ledger as g
   join public.leads as l on l.id = g.lead_id where l.email = 'a1@acme.com' and g.source = 'decay'),
  '-20 decay engagement decay (half-life 7 days)', 'the decay is ledgered with the half-life');

-- Run again at once: no time has passed, nothing changes.
select is(private.decay_engagement(), 0, 'a run right after changes no score');
select is(array[tests.score('a1@acme.com'), tests.score('a2@acme.com'), tests.score('b1@acme.com')], array[30, 10, 20],
  'a second run at the same time decays nothing more');

-- Half a day later: 20 points * 0.5^(0.5/7) = 19.04: the score keeps 19, the exact value is kept.
select tests.age('a1@acme.com', '12 hours');
select is(private.decay_engagement(), 1, 'half a day later one score changes');
select is(tests.score('a1@acme.com'), 10 + 19, 'half a day decays 20 points to 19 (rounded)');
select ok(
  (select points between 19.03 and 19.05 from private.lead_engagement as e join public.leads as l on l.id = e.lead_id
   where l.email = 'a1@acme.com'),
  'the exact points are kept, so many small decays add up right');

-- Points that round to nothing are forgotten.
select tests.age('a2@acme.com', '70 days');
select is(private.decay_engagement(), 1, 'ten half-lives later one score changes');
select is(tests.score('a2@acme.com'), 0, 'after ten more half-lives nothing is left');
select is_empty(
  $$select from private.lead_engagement as e join public.leads as l on l.id = e.lead_id where l.email = 'a2@acme.com'$$,
  'and the lead''s engagement row is gone');

select is_empty(
  $$select l.id from public.leads as l
    where l.score <> (select coalesce(sum(e.points), 0) from public.explain_lead_score(l.id) as e)$$,
  'every score still equals the sum of its explanation');

select is((select schedule from cron.job where jobname = 'beacon-decay-engagement'), '15 3 * * *',
  'pg_cron decays engagement nightly (beacon-decay-engagement, 03:15 UTC)');
select is((select command from cron.job where jobname = 'beacon-decay-engagement'),
  'select private.decay_engagement()', 'the job runs private.decay_engagement()');

select * from finish();
rollback;
