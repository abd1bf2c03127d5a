-- Rescoring compiles the changed rules into one expression with their values as literals
-- (private.profile_rule_literal_sql): values holding quotes, % signs, format placeholders and
-- the matcher's own column markers stay values; scores equal the rules evaluated row by row
-- (private.lead_profile_points); a change of points alone moves exactly the matching leads by
-- the difference; a rescore with no changed profile rule writes no lead; rescoring's own
-- update skips the status-history and ledger statement triggers (when clauses).
begin;
\ir _helpers.psql

select plan(11);

do $$ begin perform tests.create_user('olga'); end $$;

create table tests.leads (name text primary key, id uuid);
insert into tests.leads (name, id)
select name, tests.insert_row('leads', 'olga', fields)
from (values
  ('odd', $${"email": "odd@acme.com", "source": "it's 100% \"rule$op\" %1$s \\ $x$",
             "tags": ["rule$tag'%"], "custom_fields": {"note": "a'b %s rule$expected", "gone": null}}$$::jsonb),
  ('plain', '{"email": "plain@gmail.com", "source": "ads", "custom_fields": {"note": "other"}}'),
  ('bare', '{"email": "bare@acme.com"}')
) as v (name, fields);

insert into public.scoring_rules (user_id, name, condition, points)
select tests.get_user_id('olga'), name, condition::jsonb, points
from (values
  ('odd source', $${"type": "field_equals", "field": "source", "value": "IT'S 100% \"RULE$OP\" %1$S \\ $X$"}$$, 3),
  ('odd pattern', $${"type": "field_matches", "field": "source", "pattern": "^it's 100% .rule\\$op"}$$, 5),
  ('odd tag', $${"type": "tag_present", "tag": "rule$tag'%"}$$, 7),
  ('odd note', $${"type": "custom_field", "key": "note", "op": "eq", "value": "a'b %s rule$expected"}$$, 11),
  ('null note', '{"type": "custom_field", "key": "gone", "op": "eq", "value": null}', 13),
  ('free mail', '{"type": "email_domain", "free_mail": true}', 17),
  ('from ads', '{"type": "field_equals", "field": "source", "value": "ads"}', 19)
) as v (name, condition, points);

do $$ begin perform private.rescore_leads(tests.get_user_id('olga')); end $$;

create function tests.score(lead text)
returns integer
language sql
as $$
  select l.score from public.leads as l join tests.leads as t on t.id = l.id where t.name = lead
$$;

select is(tests.score('odd'), 3 + 5 + 7 + 11 + 13,
  'values with quotes, % signs, placeholders and the matcher''s markers match as values');
select is(tests.score('plain'), 17 + 19, 'the plain rules match the plain lead');
select is(tests.score('bare'), 0, 'a lead no rule matches scores nothing');
select is_empty(
  $$select l.id from public.leads as l
    where l.user_id = tests.get_user_id('olga') and l.score <> private.lead_profile_points(l)$$,
  'every score equals the rules evaluated row by row');
select ok(
  strpos(private.profile_rule_literal_sql(a, 'l'), quote_literal(a.tag) || '::text = any (l.tags)') > 0,
  'a rule compiles with its value quoted in place of the matcher''s column')
from private.applied_scoring_rules as a
where a.user_id = tests.get_user_id('olga') and a.name = 'odd tag';

-- Points alone: the matching leads move by the difference, the others are not written.
create table tests.before as
select l.id, l.score, l.updated_at from public.leads as l where l.user_id = tests.get_user_id('olga');
update public.scoring_rules set points = 20 where name = 'from ads' and user_id = tests.get_user_id('olga');
select is(private.rescore_leads(tests.get_user_id('olga')), 1, 'a change of points rescores the leads it applies to');
select is(tests.score('plain'), 17 + 20, 'by the difference');
select is(
  (select c.old_points || ' -> ' || c.new_points || ' ' || c.change from public.scoring_rule_changes as c
   where c.user_id = tests.get_user_id('olga') and c.name = 'from ads' order by c.seq desc limit 1),
  '19 -> 20 changed',
  'one scoring_rule_changes row records it');

-- No profile rule changed (the threshold did): no lead is written, the threshold applies.
insert into public.scoring_settings (user_id, qualification_threshold) values (tests.get_user_id('olga'), 30);
select is(private.rescore_leads(tests.get_user_id('olga')), 0, 'a rescore with no changed profile rule rescores no lead');
select is(
  (select array_agg(t.name order by t.name) from public.leads as l join tests.leads as t on t.id = l.id
   where l.status = 'qualified'),
  array['odd', 'plain'],
  'and qualifies the new leads at the threshold');

select ok(
  (select bool_and(pg_get_triggerdef(t.oid) like '%WHEN ((current_setting(''beacon.rescoring''::text, true) IS DISTINCT FROM ''on''::text))%')
   from pg_trigger as t
   where t.tgrelid = 'public.leads'::regclass and t.tgname in ('lead_status_history', 'lead_scores_after_update')
   having count(*) = 2),
  'rescoring''s own update skips the status-history and ledger statement triggers');

select * from finish();
rollback;
