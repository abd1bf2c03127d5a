-- The scoring jobs isolate owners: one owner whose data makes a job fail never stops the
-- others in the same run, and carries the reason on their own rows.
--   beacon-apply-scoring-rules (private.apply_scoring_changes): a rule that fails is
--     deactivated with scoring_rules.last_error and the owner's other rules still apply; a
--     failure no rule explains marks the owner's request failed (not retried every minute)
--     and lands in scoring_settings.last_error.
--   beacon-decay-engagement (private.decay_engagement): set-based for everyone; on error,
--     owner by owner, the failing owner's reason in scoring_settings.last_error.
begin;
\ir _helpers.psql

select plan(33);

do $$
begin
  perform tests.create_user('alice');
  perform tests.create_user('bob');
  perform tests.create_user('carol');
  perform tests.create_user('dave');
  perform tests.create_user('erin');
end;
$$;

create table tests.leads (name text primary key, id uuid);
insert into tests.leads (name, id)
select name, tests.insert_row('leads', owner, fields)
from (values
  ('alice', 'alice', '{"email": "a@acme.com", "company": "Acme (old)"}'::jsonb),
  ('bob', 'bob', '{"email": "b@acme.com", "company": "Bobco"}'),
  ('carol', 'carol', '{"email": "c@acme.com", "company": "Carol Corp"}'),
  ('dave', 'dave', '{"email": "d@acme.com"}'),
  ('erin', 'erin', '{"email": "e@acme.com"}')
) as v (name, owner, fields);
grant select on tests.leads to authenticated;

create function tests.score(lead text)
returns integer
language sql
as $$
  select l.score from public.leads as l join tests.leads as t on t.id = l.id where t.name = lead
$$;

create function tests.explanation_sums(lead text)
returns boolean
language sql
as $$
  select coalesce(sum(e.points), 0) = tests.score(lead)
  from public.explain_lead_score((select id from tests.leads where name = lead)) as e
$$;

-- ==== rescoring: beacon-apply-scoring-rules =================================================

-- Alice's poisoned rule: a pattern no validator would let through today (written as the
-- table's owner with the validator off, as a rule stored before it existed would be).
alter table public.scoring_rules disable trigger check_condition;
insert into public.scoring_rules (user_id, name, condition, points)
values (tests.get_user_id('alice'), 'broken pattern', '{"type": "field_matches", "field": "company", "pattern": "(old"}', 50);
alter table public.scoring_rules enable trigger check_condition;
-- Her ordinary rule, and Bob's.
insert into public.scoring_rules (user_id, name, condition, points)
values
  (tests.get_user_id('alice'), 'has company', '{"type": "field_present", "field": "company"}', 7),
  (tests.get_user_id('bob'), 'has company', '{"type": "field_present", "field": "company"}', 3),
  (tests.get_user_id('carol'), 'has company', '{"type": "field_present", "field": "company"}', 4);

-- Carol's leads refuse any change, for a reason no rule of hers explains (as a trigger of
-- another feature failing on her data would).
create function tests.refuse_change()
returns trigger
language plpgsql
as $$
begin
  raise exception '%''s leads are locked for maintenance', split_part(new.email, '@', 1);
end;
$$;
create trigger refuse_carol
before update on public.leads
for each row
when (new.email = 'c@acme.com')
execute function tests.refuse_change();

select lives_ok('select private.apply_scoring_changes()', 'one run of the job with two poisoned owners completes');

select is(tests.score('bob'), 10 + 3, 'bob''s new rule is applied in the same run');
select ok(not exists (select from private.scoring_rescores where user_id = tests.get_user_id('bob')),
  'bob''s request is done');

select is(tests.score('alice'), 10 + 7, 'alice''s ordinary rule is applied, her broken one is not');
select is(
  (select is_active::text || ' ' || (last_error ~ '^deactivated by rescoring at \d{4}-\d\d-\d\d \d\d:\d\d UTC: invalid regular expression')::text
   from public.scoring_rules where name = 'broken pattern'),
  'false true',
  'alice''s broken rule is deactivated with the reason in last_error');
select is((select last_error from public.scoring_rules where user_id = tests.get_user_id('alice') and name = 'has company'),
  null, 'her ordinary rule carries no error');
select ok(not exists (select from private.scoring_rescores where user_id = tests.get_user_id('alice')),
  'alice''s requests are done');
select ok(tests.explanation_sums('alice') and tests.explanation_sums('bob'), 'their explanations sum to their scores');

select is(tests.score('carol'), 10, 'carol''s score is unchanged');
select is(
  (select count(*)::integer from private.scoring_rescores
   where user_id = tests.get_user_id('carol') and failed_at is not null and last_error = 'c''s leads are locked for maintenance'),
  (select count(*)::integer from private.scoring_rescores where user_id = tests.get_user_id('carol')),
  'carol''s pending requests are marked failed with the reason');
select matches(
  (select last_error from public.scoring_settings where user_id = tests.get_user_id('carol')),
  '^rescoring your leads failed at \d{4}-\d\d-\d\d \d\d:\d\d UTC: c''s leads are locked for maintenance$',
  'carol reads why in scoring_settings.last_error');

select is(private.apply_scoring_changes(), 0, 'the next run does not retry carol''s failed request');

-- ==== acting as alice ====
select tests.authenticate_as('alice');
select is((select count(*)::integer from public.scoring_rules where last_error is not null), 1,
  'alice reads her rule''s last_error');
select throws_ok($$update public.scoring_rules set last_error = null$$, '42501',
  'permission denied for table scoring_rules', 'alice cannot write last_error');
select throws_ok($$update public.scoring_settings set last_error = 'fine'$$, '42501',
  'permission denied for table scoring_settings', 'nor her settings'' last_error');
update public.scoring_rules
set condition = '{"type": "field_matches", "field": "company", "pattern": "\\(old"}', is_active = true
where name = 'broken pattern';
select is((select last_error from public.scoring_rules where name = 'broken pattern'), null,
  'fixing the rule clears its last_error');

-- ==== acting as carol ====
select tests.authenticate_as('carol');
update public.scoring_rules set points = 6;
select tests.clear_authentication();
drop trigger refuse_carol on public.leads;

select is(private.apply_scoring_changes(), 2, 'after their next changes, alice and carol are rescored');
select is(array[tests.score('alice'), tests.score('carol')], array[10 + 7 + 50, 10 + 6],
  'alice''s fixed rule and carol''s changed rule apply');
select is((select last_error from public.scoring_settings where user_id = tests.get_user_id('carol')), null,
  'carol''s rescoring error is cleared by the success');
select ok(not exists (select from private.scoring_rescores where user_id = tests.get_user_id('carol')),
  'carol''s failed requests are gone with it');

-- Frank's leads refuse changes and so does his settings row: not even the failure can be
-- recorded on his rows. The run still completes for Bob; Frank's request stays pending.
select tests.create_user('frank');
insert into tests.leads (name, id) values ('frank', tests.insert_row('leads', 'frank', '{"email": "f@acme.com"}'));
insert into public.scoring_rules (user_id, name, condition, points)
values (tests.get_user_id('frank'), 'has email', '{"type": "email_domain", "free_mail": false}', 2),
       (tests.get_user_id('bob'), 'business email', '{"type": "email_domain", "free_mail": false}', 1);
create trigger refuse_frank
before update on public.leads
for each row
when (new.email = 'f@acme.com')
execute function tests.refuse_change();
create function tests.refuse_settings()
returns trigger
language plpgsql
as $$
begin
  raise exception 'settings are read-only';
end;
$$;
create trigger refuse_settings
before insert or update on public.scoring_settings
for each row
execute function tests.refuse_settings();
-- The job says so in the server log (a warning), kept out of this test's output.
set local client_min_messages = error;
select lives_ok('select private.apply_scoring_changes()', 'a run where one owner''s failure cannot be recorded completes');
set local client_min_messages = notice;
select is(tests.score('bob'), 10 + 3 + 1, 'bob''s new rule is applied in that run');
select ok(exists (select from private.scoring_rescores where user_id = tests.get_user_id('frank') and failed_at is null),
  'frank''s request stays pending for the next run');
drop trigger refuse_settings on public.scoring_settings;
drop trigger refuse_frank on public.leads;

-- ==== decay: beacon-decay-engagement ========================================================

insert into public.scoring_rules (user_id, name, condition, points)
select tests.get_user_id(u), 'visits', '{"type": "event", "event_type": "visit"}', 40
from unnest(array['dave', 'erin']) as u;
insert into public.analytics_events (user_id, event_type, event_name, properties)
select l.user_id, 'visit', 'home', jsonb_build_object('lead_id', l.id)
from public.leads as l
where l.email in ('d@acme.com', 'e@acme.com');
select is(array[tests.score('dave'), tests.score('erin')], array[40, 40], 'dave and erin earned 40 points each');

-- A month passes; dave's leads now refuse any change, which fails the set-based decay.
update private.lead_engagement set decayed_at = now() - interval '30 days'
where user_id in (tests.get_user_id('dave'), tests.get_user_id('erin'));
create trigger refuse_dave
before update on public.leads
for each row
when (new.email = 'd@acme.com')
execute function tests.refuse_change();

select is(private.decay_engagement(), 1, 'one run of the decay changes erin''s score despite dave''s row');
select is(tests.score('erin'), 20, 'erin''s points halved');
select ok(tests.explanation_sums('erin'), 'erin''s explanation sums to her score');
select is(tests.score('dave'), 40, 'dave''s score is unchanged');
select matches(
  (select last_error from public.scoring_settings where user_id = tests.get_user_id('dave')),
  '^engagement decay failed at \d{4}-\d\d-\d\d \d\d:\d\d UTC: d''s leads are locked for maintenance$',
  'dave carries the reason in scoring_settings.last_error');
select is(
  (select engagement_half_life_days from public.scoring_settings where user_id = tests.get_user_id('dave')),
  30, 'recording it gave dave a settings row with the defaults');

-- Dave's leads mended: the next run decays him and clears his error.
drop trigger refuse_dave on public.leads;
select is(private.decay_engagement(), 1, 'the next run decays dave');
select is(tests.score('dave'), 20, 'dave''s points halved');
select is((select last_error from public.scoring_settings where user_id = tests.get_user_id('dave')), null,
  'dave''s decay error is cleared by the success');

select * from finish();
rollback;
