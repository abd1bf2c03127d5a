-- The qualification threshold: a `new` lead whose score reaches the owner's threshold becomes
-- `qualified` (on insert, when its score crosses it upwards, and for every new lead at or
-- above it when the threshold or the rules change); nothing the system does moves a lead
-- out of contacted, converted or lost; a lead the owner put back to new stays new until its
-- score crosses the threshold again. Without a threshold nothing is qualified.
begin;
\ir _helpers.psql

select plan(17);

do $$
begin
  perform tests.create_user('alice');
  perform tests.create_user('bob');
end;
$$;

insert into public.scoring_settings (user_id, qualification_threshold) values (tests.get_user_id('alice'), 15);
insert into public.scoring_rules (user_id, name, condition, points)
values (tests.get_user_id('alice'), 'visits', '{"type": "event", "event_type": "visit"}', 5),
       (tests.get_user_id('bob'), 'visits', '{"type": "event", "event_type": "visit"}', 5);

create function tests.status(address text)
returns text
language sql
as $$
  select l.status from public.leads as l where l.email = address
$$;
create function tests.visit(address text)
returns void
language sql
as $$
  insert into public.analytics_events (user_id, event_type, event_name, properties)
  select l.user_id, 'visit', 'home', jsonb_build_object('lead_id', l.id) from public.leads as l where l.email = address
$$;

-- ==== acting as alice, through the app ====
select tests.authenticate_as('alice');
insert into public.leads (email, company, phone) values ('full@acme.com', 'Acme', '555 0100');
insert into public.leads (email, company) values ('half@acme.com', 'Acme');
insert into public.leads (email, company, phone, status) values ('met@acme.com', 'Acme', '555 0101', 'contacted');
insert into public.leads (email, company, status) values ('won@acme.com', 'Acme', 'converted');
insert into public.leads (email, company, status) values ('gone@acme.com', 'Acme', 'lost');
select tests.clear_authentication();

select is(tests.status('full@acme.com'), 'qualified', 'a new lead created at the threshold (15) is qualified');
select is(tests.status('half@acme.com'), 'new', 'a new lead below it stays new');
select is(tests.status('met@acme.com'), 'contacted', 'a contacted lead at the threshold stays contacted');
select is(
  (select h.from_status || ' -> ' || h.to_status || ' by ' || h.reason || ', during a write by alice: '
          || (h.changed_by = tests.get_user_id('alice'))::text
   from public.lead_status_history as h join public.leads as l on l.id = h.lead_id where l.email = 'full@acme.com'),
  'new -> qualified by score_threshold, during a write by alice: true', 'the history says the threshold did it');

select tests.visit('half@acme.com');
select is(tests.status('half@acme.com'), 'qualified', 'a new lead whose score crosses the threshold is qualified');
select tests.visit('won@acme.com');
select tests.visit('gone@acme.com');
select tests.visit('met@acme.com');
select is(array[tests.status('won@acme.com'), tests.status('gone@acme.com'), tests.status('met@acme.com')],
  array['converted', 'lost', 'contacted'], 'converted, lost and contacted leads crossing it keep their status');

-- Alice puts a qualified lead back to new: it stays new while above the threshold...
select tests.authenticate_as('alice');
update public.leads set status = 'new' where email = 'half@acme.com';
select tests.clear_authentication();
select tests.visit('half@acme.com');
select is(tests.status('half@acme.com'), 'new', 'a lead the owner put back to new stays new as its score rises further');
-- ...until it drops below and crosses again.
update private.lead_engagement set decayed_at = now() - interval '60 days'
where lead_id = (select id from public.leads where email = 'half@acme.com');
do $$ begin perform private.decay_engagement(); end; $$;
select cmp_ok((select score from public.leads where email = 'half@acme.com'), '<', 15, 'decay takes it below the threshold');
select is(tests.status('half@acme.com'), 'new', 'a lower score never un-qualifies anything');
select tests.visit('half@acme.com');
select tests.visit('half@acme.com');
select is(tests.status('half@acme.com'), 'qualified', 'crossing the threshold again qualifies it');

-- Lowering the threshold qualifies every new lead at or above it once the change applies.
insert into public.leads (user_id, email) values (tests.get_user_id('alice'), 'low1@acme.com'), (tests.get_user_id('alice'), 'low2@acme.com');
select tests.visit('low1@acme.com');
select is(tests.status('low1@acme.com'), 'new', 'a lead at 5 is new under a threshold of 15');
update public.scoring_settings set qualification_threshold = 5 where user_id = tests.get_user_id('alice');
select is(tests.status('low1@acme.com'), 'new', 'until the change is applied');
do $$ begin perform private.rescore_leads(tests.get_user_id('alice')); end; $$;
select is(array[tests.status('low1@acme.com'), tests.status('low2@acme.com')], array['qualified', 'new'],
  'after the lowered threshold applies, the lead at 5 is qualified; the one at 0 is not');
select is(
  (select count(*)::integer from public.lead_status_history as h join public.leads as l on l.id = h.lead_id
   where l.email = 'low1@acme.com' and h.reason = 'score_threshold'), 1,
  'and its history says the threshold did it');

-- Without a threshold nothing is qualified.
insert into public.leads (user_id, email, company, phone) values (tests.get_user_id('bob'), 'b1@acme.com', 'Acme', '555 0102');
select tests.visit('b1@acme.com');
select is(tests.status('b1@acme.com'), 'new', 'bob has no threshold: his leads stay new whatever their score');
update public.scoring_settings set qualification_threshold = null where user_id = tests.get_user_id('alice');
insert into public.leads (user_id, email, company, phone) values (tests.get_user_id('alice'), 'late@acme.com', 'Acme', '555 0103');
select is(tests.status('late@acme.com'), 'new', 'alice removed her threshold: a lead at 15 stays new');

select is_empty(
  $$select l.id from public.leads as l
    where l.score <> (select coalesce(sum(e.points), 0) from public.explain_lead_score(l.id) as e)$$,
  'every score still equals the sum of its explanation');

select * from finish();
rollback;
