-- Scores stay within leads.score's range (-100000 to 100000) whatever adds to them: an
-- engagement award, rescoring, a lead's own change, decay; the ledger records what was
-- applied (and what the bound cut off) so that it and explain_lead_score still sum to the
-- score. An account's rules are bounded: 200 rules, and their active points add up to at
-- most 50000. An event rule's cap is a whole number however it is written (5.0 runs).
begin;
\ir _helpers.psql

select plan(32);

do $$
begin
  perform tests.create_user('frank');
  perform tests.create_user('gina');
  perform tests.create_user('hank');
  perform tests.create_user('ivy');
end;
$$;

create table tests.leads (name text primary key, id uuid);
insert into tests.leads (name, id)
select name, tests.insert_row('leads', owner, fields)
from (values
  ('top', 'frank', '{"email": "top@acme.com", "company": "Acme"}'::jsonb),
  ('low', 'frank', '{"email": "low@acme.com", "company": "Acme"}'),
  ('capped', 'gina', '{"email": "capped@acme.com"}')
) as v (name, owner, fields);
grant select on tests.leads to authenticated;

create function tests.score(lead text)
returns integer
language sql
as $$
  select l.score from public.leads as l join tests.leads as t on t.id = l.id where t.name = lead
$$;

-- Whether the lead's ledger and its explanation both add up to its score: its profile points
-- (the rules evaluated on the lead), plus what its ledger holds besides profile points (the
-- bound's cuts, engagement, decay, workflows).
create function tests.sums(lead text)
returns boolean
language sql
as $$
  select
    (select private.lead_profile_points(l) from public.leads as l where l.id = t.id)
      + (select coalesce(sum(case when g.source = 'rule'
                                  then coalesce((g.details ->> 'score bound: kept within -100000 to 100000')::integer, 0)
                                  else g.points end), 0)
         from public.lead_score_ledger as g where g.lead_id = t.id) = tests.score(lead)
    and (select coalesce(sum(e.points), 0) from public.explain_lead_score(t.id) as e) = tests.score(lead)
  from tests.leads as t
  where t.name = lead
$$;

create function tests.visit(lead text, times integer, kind text default 'visit')
returns void
language sql
as $$
  insert into public.analytics_events (user_id, event_type, event_name, properties, "timestamp")
  select l.user_id, kind, 'home', jsonb_build_object('lead_id', l.id), now() + n * interval '1 second'
  from public.leads as l
  join tests.leads as t on t.id = l.id
  cross join generate_series(1, times) as n
  where t.name = lead
$$;

-- ==== an event rule's cap: 5.0 is 5 ==========================================================

-- ==== acting as gina ====
select tests.authenticate_as('gina');
select lives_ok(
  $$insert into public.scoring_rules (name, condition, points)
    values ('visits', '{"type": "event", "event_type": "visit", "cap": 5.0, "period": "day"}', 2)$$,
  'a cap written 5.0 is accepted');
select throws_ok(
  $$insert into public.scoring_rules (name, condition, points)
    values ('visits', '{"type": "event", "event_type": "visit", "cap": "5", "period": "day"}', 2)$$,
  '23514', 'condition.cap: expected a whole number from 1 to 100000, not "5"', 'a cap written as a string is not');
select tests.clear_authentication();
select lives_ok($$select tests.visit('capped', 4)$$, 'events run through the rule whose cap is 5.0');
select is(tests.score('capped'), 5, 'four visits of 2 points earn the cap, 5');

-- ==== engagement awards stop at the bound ====================================================

insert into public.scoring_rules (user_id, name, condition, points)
values (tests.get_user_id('frank'), 'visits', '{"type": "event", "event_type": "visit"}', 1000),
       (tests.get_user_id('frank'), 'complaints', '{"type": "event", "event_type": "complaint"}', -1000);
select lives_ok($$select tests.visit('top', 100)$$, '100 visits worth 1000 each on a lead at 10 are recorded');
select is(tests.score('top'), 100000, 'the score stops at 100000');
select ok(tests.sums('top'), 'its ledger and explain_lead_score sum to the score');
select is(
  (select string_agg(g.points || ' ' || g.reason, '; ') from public.lead_score_ledger as g
   where g.lead_id = (select id from tests.leads where name = 'top') and g.reason like '%kept within%'),
  '990 visits: visit/home (kept within -100000 to 100000)',
  'the award the bound cut is ledgered as what it added, and says so');
select is((select points from private.lead_engagement where lead_id = (select id from tests.leads where name = 'top')),
  99990::numeric, 'the exact engagement points grow by what was awarded');

-- ==== rescoring stops at the bound ===========================================================

insert into public.scoring_rules (user_id, name, condition, points)
values (tests.get_user_id('frank'), 'has company', '{"type": "field_present", "field": "company"}', 500);
select lives_ok($$select private.apply_scoring_changes()$$, 'rescoring frank runs');
select is(array[tests.score('top'), tests.score('low')], array[100000, 510], 'the lead at the bound stays there');
select is(
  (select g.points || ' ' || g.details::text from public.lead_score_ledger as g
   where g.lead_id = (select id from tests.leads where name = 'top') and g.reason like 'rules changed%'),
  '-500 {"score bound: kept within -100000 to 100000": -500}',
  'what the bound cut off from the rule''s points is in the lead''s ledger (the rule''s 500 in its rule change)');
select ok(tests.sums('top'), 'the ledger and explain_lead_score still sum to the score');
select is(
  (select points from public.explain_lead_score((select id from tests.leads where name = 'top'))
   where reason = 'score bound: kept within -100000 to 100000'),
  -500, 'explain_lead_score shows the bound as a contribution');

-- ==== a lead's own change stops at the bound =================================================

-- ==== acting as frank ====
select tests.authenticate_as('frank');
update public.leads set phone = '+1 555 0100' where email = 'top@acme.com';
select tests.clear_authentication();
select is(tests.score('top'), 100000, 'a phone (+5) on a lead at the bound leaves it there');
select is(
  (select g.points || ' ' || (g.details ->> 'score bound: kept within -100000 to 100000') from public.lead_score_ledger as g
   where g.lead_id = (select id from tests.leads where name = 'top') and g.reason like 'lead changed%'),
  '0 -5', 'the change is ledgered with what the bound cut off');
select ok(tests.sums('top'), 'the ledger and explain_lead_score still sum to the score');

-- ==== decay stops at the bound ===============================================================

-- Low gets a complaint (-1000 engagement points), then a workflow lifts it to the bound;
-- a month later its engagement points are -500, which would take the score past it.
select tests.visit('low', 1, 'complaint');
select is(tests.score('low'), 510 - 1000, 'a complaint takes 1000 points');
do $$
begin
  insert into public.lead_score_ledger (user_id, lead_id, points, source, reason)
  select l.user_id, l.id, 100000 - l.score, 'workflow', 'adjust_score' from public.leads as l where l.email = 'low@acme.com';
  perform set_config('beacon.trusted_score_write', 'on', true);
  update public.leads set score = 100000 where email = 'low@acme.com';
  perform set_config('beacon.trusted_score_write', '', true);
end;
$$;
update private.lead_engagement set decayed_at = now() - interval '30 days'
where lead_id = (select id from tests.leads where name = 'low');
select lives_ok($$select private.decay_engagement()$$, 'the decay runs');
select is(tests.score('low'), 100000, 'the decayed lead stays at the bound');
select is((select points from private.lead_engagement where lead_id = (select id from tests.leads where name = 'low')),
  -500::numeric, 'its engagement points decayed');
select ok(tests.sums('low'), 'its ledger and explain_lead_score sum to the score');

-- ==== at most 200 rules per account ==========================================================

-- ==== acting as hank ====
select tests.authenticate_as('hank');
select lives_ok(
  $$insert into public.scoring_rules (name, condition, points)
    select 'rule ' || n, '{"type": "tag_present", "tag": "vip"}', 1 from generate_series(1, 200) as n$$,
  'hank adds 200 rules');
select throws_ok(
  $$insert into public.scoring_rules (name, condition, points) values ('one more', '{"type": "tag_present", "tag": "vip"}', 1)$$,
  '23514', 'scoring_rules: an account may have at most 200 scoring rules; this write would make 201',
  'a 201st rule is refused, naming the bound');
delete from public.scoring_rules where name = 'rule 1';
select lives_ok(
  $$insert into public.scoring_rules (name, condition, points) values ('one more', '{"type": "tag_present", "tag": "vip"}', 1)$$,
  'after deleting one, one more fits');

-- ==== active points add up to at most 50000 ==================================================

-- ==== acting as ivy ====
select tests.authenticate_as('ivy');
select lives_ok(
  $$insert into public.scoring_rules (name, condition, points)
    select 'rule ' || n, '{"type": "tag_present", "tag": "vip"}', case when n % 2 = 0 then 1000 else -1000 end
    from generate_series(1, 50) as n$$,
  'ivy''s 50 rules of 1000 points (either sign) make 50000');
select throws_ok(
  $$insert into public.scoring_rules (name, condition, points) values ('one more', '{"type": "tag_present", "tag": "vip"}', -1)$$,
  '23514',
  'scoring_rules.points: the points of an account''s active rules may add up to at most 50000 (as absolute values, so that a score stays within -100000 to 100000); this write would make 50001',
  'one more point is refused, naming the bound');
select lives_ok(
  $$update public.scoring_rules set is_active = false where name = 'rule 1'$$, 'deactivating a rule is allowed');
select lives_ok(
  $$insert into public.scoring_rules (name, condition, points) values ('one more', '{"type": "tag_present", "tag": "vip"}', 1000)$$,
  'inactive rules do not count');
select throws_ok(
  $$update public.scoring_rules set is_active = true where name = 'rule 1'$$,
  '23514', null, 'reactivating past the bound is refused');
select tests.clear_authentication();

-- An account past the bound from before it existed may still lower and rename its rules.
alter table public.scoring_rules disable trigger check_limits_after_insert;
insert into public.scoring_rules (user_id, name, condition, points)
select tests.get_user_id('gina'), 'legacy ' || n, '{"type": "tag_present", "tag": "vip"}', 1000 from generate_series(1, 60) as n;
alter table public.scoring_rules enable trigger check_limits_after_insert;
-- ==== acting as gina ====
select tests.authenticate_as('gina');
select lives_ok(
  $$update public.scoring_rules set name = name || ' (old)', points = points - 1 where name like 'legacy%'$$,
  'an account past the bound may rename and lower its rules');
select throws_ok(
  $$update public.scoring_rules set points = 1000 where name = 'legacy 1 (old)'$$,
  '23514', null, 'but not raise them');

select * from finish();
rollback;
