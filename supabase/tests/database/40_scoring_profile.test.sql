-- Profile scoring: the default rule (company +10, phone +5) stays, and each kind of profile
-- rule adds its points to the leads it matches once the owner's leads are rescored (after a
-- rule change, by private.rescore_leads, which the pg_cron job runs). Rescoring is one
-- set-based statement with a ledger row per lead and rule that changed; a lead written
-- later is scored by the same rules; every score equals its profile points plus what its
-- ledger holds otherwise.
begin;
\ir _helpers.psql

select plan(37);

do $$
begin
  perform tests.create_user('alice');
  perform tests.create_user('mallory');
end;
$$;

-- Alice's leads, chosen so that each rule below matches some and not others.
create table tests.leads (name text primary key, id uuid);
insert into tests.leads (name, id)
select name, tests.insert_row('leads', 'alice', fields)
from (values
  ('ada', '{"email": "ada@acme.com", "company": "Acme Inc", "first_name": "Ada", "source": "Webinar",
            "tags": ["vip"], "custom_fields": {"employees": 250, "plan": "pro"}}'::jsonb),
  ('bob', '{"email": "bob@gmail.com", "phone": "+1 555 0100", "source": "ads",
            "custom_fields": {"employees": "40", "plan": "free"}}'),
  ('cy', '{"email": "cy@example.org", "company": "Cy Ltd.", "tags": ["b2b"], "custom_fields": {"employees": "120"}}'),
  ('dee', '{"email": "dee@outlook.com"}')
) as v (name, fields);
grant select on tests.leads to authenticated;

create function tests.score(lead text)
returns integer
language sql
as $$
  select l.score from public.leads as l join tests.leads as t on t.id = l.id where t.name = lead
$$;

select is(array[tests.score('ada'), tests.score('bob'), tests.score('cy'), tests.score('dee')], array[10, 5, 10, 0],
  'before any rule, leads score by the default rule: company +10, phone +5');
select is(
  (select g.points || ' | ' || g.reason || ' | ' || g.details::text from public.lead_score_ledger as g
   where g.lead_id = (select id from tests.leads where name = 'ada')),
  '10 | new lead: default rule: company given +10 | {"default rule: company given": 10}',
  'the default rule''s points are ledgered when the lead is created, with the contribution in details');

-- Alice adds one rule of every profile kind.
insert into public.scoring_rules (user_id, name, condition, points)
select tests.get_user_id('alice'), name, condition, points
from (values
  ('has first name', '{"type": "field_present", "field": "first_name"}'::jsonb, 1),
  ('from a webinar', '{"type": "field_equals", "field": "source", "value": "webinar"}', 2),
  ('a company form', '{"type": "field_matches", "field": "company", "pattern": "(inc|ltd)\\.?$"}', 4),
  ('business email', '{"type": "email_domain", "free_mail": false}', 8),
  ('free mail', '{"type": "email_domain", "free_mail": true}', -16),
  ('our domains', '{"type": "email_domain", "domains": ["EXAMPLE.org"]}', 32),
  ('vip', '{"type": "tag_present", "tag": "vip"}', 64),
  ('100+ people', '{"type": "custom_field", "key": "employees", "op": "gte", "value": 100}', 128),
  ('paying', '{"type": "custom_field", "key": "plan", "op": "in", "value": ["pro", "team"]}', 256)
) as r (name, condition, points);

select is(array[tests.score('ada'), tests.score('bob'), tests.score('cy'), tests.score('dee')], array[10, 5, 10, 0],
  'new rules change no score until they are applied');
select isnt_empty(format('select from private.scoring_rescores where user_id = %L', tests.get_user_id('alice')),
  'a rescore of alice''s leads is pending');

select is(private.rescore_leads(tests.get_user_id('alice')), 4, 'rescoring changes the score of all four leads');

-- ada: company 10 + first name 1 + webinar 2 (any case) + "Inc" 4 + business 8 + vip 64 + 250 people 128 + pro 256
select is(tests.score('ada'), 473, 'ada: every rule that matches her counts, field_equals ignoring case');
-- bob: phone 5 + free mail -16 + (employees "40": not 100+) + (free plan: not paying)
select is(tests.score('bob'), -11, 'bob: a free mail address costs points; "40" is not 100 or more');
-- cy: company 10 + "Ltd." 4 + business 8 + example.org 32 + "120" (a numeric string) 128
select is(tests.score('cy'), 182, 'cy: a regex, a listed domain (any case) and a numeric string compare');
select is(tests.score('dee'), -16, 'dee: only the free mail rule');

select is_empty(
  format('select from private.scoring_rescores where user_id = %L', tests.get_user_id('alice')),
  'the request is done');
select is(
  (select count(*)::integer || ' rule changes, ' || count(*) filter (where c.change = 'added')::integer || ' added, '
          || (select count(*) from public.lead_score_ledger as g
              where g.user_id = tests.get_user_id('alice') and g.reason like 'rules changed:%')::integer || ' lead rows'
   from public.scoring_rule_changes as c
   where c.user_id = tests.get_user_id('alice')),
  '9 rule changes, 9 added, 0 lead rows', 'the rescore ledgers one row per rule, none per lead');
select is(
  (select string_agg(e.reason || ' ' || e.points, ', ' order by e.points desc, e.reason)
   from public.explain_lead_score((select id from tests.leads where name = 'cy')) as e),
  'rule: 100+ people 128, rule: our domains 32, default rule: company given 10, rule: business email 8, rule: a company form 4',
  'cy''s explanation names each rule that gives her points');
select is(
  (select c.new_points || ' ' || c.new_rule::text from public.scoring_rule_changes as c
   where c.user_id = tests.get_user_id('alice') and c.name = 'vip'),
  '64 {"tag": "vip", "kind": "tag_present"}', 'the rule change holds the rule as applied, so the leads it applies to follow from it');

-- A rescore with nothing new changes nothing.
select is(private.rescore_leads(tests.get_user_id('alice')), 0, 'rescoring again changes nothing');

-- Rules change: points, condition, deactivation, deletion.
update public.scoring_rules set points = 3 where name = 'has first name';
update public.scoring_rules set condition = '{"type": "tag_present", "tag": "b2b"}' where name = 'vip';
update public.scoring_rules set is_active = false where name = 'paying';
delete from public.scoring_rules where name = 'free mail';
select is(private.rescore_leads(tests.get_user_id('alice')), 4, 'after four rule changes every lead is rescored');
select is(tests.score('ada'), 473 + 2 - 64 - 256, 'ada: +2 first name, -64 no longer b2b-tagged vip, -256 paying off');
select is(tests.score('bob'), -11 + 16, 'bob: the free mail rule is gone');
select is(tests.score('cy'), 182 + 64, 'cy: the changed vip rule now matches her b2b tag');
select is(tests.score('dee'), 0, 'dee: nothing left');
select is(
  (select string_agg(c.name || ' (' || c.change || ') ' || coalesce(c.old_points::text, '-') || ' -> '
                     || coalesce(c.new_points::text, '-'), ', ' order by c.name)
   from public.scoring_rule_changes as c
   where c.user_id = tests.get_user_id('alice') and c.change <> 'added'),
  'free mail (removed) -16 -> -, has first name (changed) 1 -> 3, paying (removed) 256 -> -, vip (changed) 64 -> 64',
  'the rule changes: first name changed, vip changed, paying and free mail removed');
select is(
  (select string_agg(e.reason || ' ' || e.points, ', ' order by e.points desc, e.reason)
   from public.explain_lead_score((select id from tests.leads where name = 'ada')) as e),
  'rule: 100+ people 128, default rule: company given 10, rule: business email 8, rule: a company form 4, rule: has first name 3, rule: from a webinar 2',
  'ada''s explanation: first name at its new points, vip and paying gone, business email still there');

-- Lead writes after the rules are applied: the same rules, and ledgered.
update public.leads set tags = '{vip,b2b}', email = 'ada@gmail.com'
where id = (select id from tests.leads where name = 'ada');
select is(tests.score('ada'), 473 + 2 - 64 - 256 + 64 - 8, 'ada tagged b2b: +64; at gmail now: -8 business email');
select is(
  (select g.points || ' | ' || g.reason from public.lead_score_ledger as g
   where g.lead_id = (select id from tests.leads where name = 'ada') and g.reason like 'lead changed:%'),
  '56 | lead changed: vip +64, business email -8',
  'the lead''s update ledgers the contributions that appeared or went, by rule name');

select tests.authenticate_as('alice');
insert into public.leads (email, company, tags) values ('eve@example.org', 'Eve Inc', '{b2b}');
select is((select score from public.leads where email = 'eve@example.org'), 10 + 4 + 8 + 32 + 64,
  'a lead alice creates now is scored by all her applied rules');
select is((select sum(g.points)::integer from public.lead_score_ledger as g
           join public.leads as l on l.id = g.lead_id where l.email = 'eve@example.org'),
  118, 'and its ledger sums to its score');
select throws_ok($$update public.leads set score = 1000$$, '42501', null, 'alice still cannot write a score');
select tests.clear_authentication();

-- Mallory's leads are untouched by alice's rules.
do $$
begin
  perform tests.insert_row('leads', 'mallory', '{"email": "mal@acme.com", "company": "Acme Inc", "tags": ["b2b"]}');
end;
$$;
select is((select score from public.leads where email = 'mal@acme.com'), 10,
  'another user''s lead is scored by the default rule only');
select is(private.rescore_leads(tests.get_user_id('mallory')), 0, 'rescoring mallory changes nothing of hers');

-- Whoever writes a score, the trigger has the last word; the service cannot bypass it.
select tests.authenticate_as_service_role();
update public.leads set score = 5000 where email = 'eve@example.org';
select tests.clear_authentication();
select is((select score from public.leads where email = 'eve@example.org'), 118, 'a score written by the service is ignored');
update public.leads set score = 5000 where email = 'eve@example.org';
select is((select score from public.leads where email = 'eve@example.org'), 118, 'and so is one written by postgres');

-- The invariants, over every lead of both users.
select is_empty(
  $$select l.id from public.leads as l
    where l.user_id in (tests.get_user_id('alice'), tests.get_user_id('mallory'))
      and l.score is distinct from private.lead_profile_points(l)
        + coalesce((select floor(e.points + 0.5)::integer from private.lead_engagement as e where e.lead_id = l.id), 0)$$,
  'every score equals its profile points (the per-row rules) plus its engagement points');
select is_empty(
  $$select l.id from public.leads as l
    where l.user_id in (tests.get_user_id('alice'), tests.get_user_id('mallory'))
      and l.score is distinct from (select coalesce(sum(e.points), 0) from public.explain_lead_score(l.id) as e)$$,
  'every score equals the sum of its explanation');
select is(
  (select count(*)::integer from private.applied_scoring_rules where user_id = tests.get_user_id('alice')),
  (select count(*)::integer from public.scoring_rules where user_id = tests.get_user_id('alice') and is_active),
  'the applied rules are alice''s active profile rules');

-- Engagement rules are not profile rules: they are never applied to leads by rescoring.
insert into public.scoring_rules (user_id, name, condition, points)
values (tests.get_user_id('alice'), 'clicks', '{"type": "event", "event_name": "click"}', 50);
select is(private.rescore_leads(tests.get_user_id('alice')), 0, 'an engagement rule rescores nothing');

-- The job that applies pending changes.
select is((select schedule from cron.job where jobname = 'beacon-apply-scoring-rules'), '* * * * *',
  'pg_cron applies rule changes every minute (beacon-apply-scoring-rules)');
select is(
  (select command from cron.job where jobname = 'beacon-apply-scoring-rules'),
  'select private.apply_scoring_changes()',
  'the job runs private.apply_scoring_changes()');

-- Rescoring is set-based: the function has no loop over leads.
select ok(
  (select prosrc !~* '\mloop\M' from pg_proc where oid = 'private.rescore_leads(uuid)'::regprocedure),
  'private.rescore_leads has no loop: one statement rescores all the leads');

select * from finish();
rollback;
