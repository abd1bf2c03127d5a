-- Scoring rules and settings as apps manage them: their shape, RLS (the owner only; anon
-- nothing), and the validation of a rule's condition on write, whose error names the bad
-- field (condition.pattern: ...). A valid rule of every kind is accepted.
begin;
\ir _helpers.psql

select plan(49);

do $$
begin
  perform tests.create_user('alice');
  perform tests.create_user('mallory');
end;
$$;

-- Shape -----------------------------------------------------------------------------------

select columns_are('public', 'scoring_rules',
  array['id', 'user_id', 'name', 'condition', 'points', 'is_active', 'created_at', 'updated_at', 'last_error'],
  'scoring_rules has its columns');
select columns_are('public', 'scoring_settings',
  array['user_id', 'qualification_threshold', 'engagement_half_life_days', 'created_at', 'updated_at', 'last_error'],
  'scoring_settings has its columns');
select col_is_pk('public', 'scoring_settings', 'user_id', 'scoring_settings: one row per user');
select is(
  (select string_agg(policyname || ' ' || cmd, ', ' order by policyname) from pg_policies
   where schemaname = 'public' and tablename = t),
  'owner can delete DELETE, owner can insert INSERT, owner can select SELECT, owner can update UPDATE',
  format('%s has the four owner policies', t))
from unnest(array['scoring_rules', 'scoring_settings']) with ordinality as x (t, n)
order by n;
select ok(not has_any_column_privilege('anon', format('public.%I', t)::regclass, 'SELECT, INSERT, UPDATE'),
  format('anon has no privilege on %s', t))
from unnest(array['scoring_rules', 'scoring_settings']) with ordinality as x (t, n)
order by n;

-- RLS, exercised ---------------------------------------------------------------------------

-- ==== acting as alice ====
select tests.authenticate_as('alice');
select * from tests.affects(
  $$insert into public.scoring_rules (name, condition, points)
    values ('Works at a company', '{"type": "field_present", "field": "company"}', 5)
    returning id, user_id$$,
  1, 'alice adds a rule; it is hers', 'user_id = auth.uid()');
select * from tests.affects(
  $$insert into public.scoring_settings (qualification_threshold) values (50) returning user_id$$,
  1, 'alice sets her threshold', 'user_id = auth.uid()');
select throws_ok(
  format($$insert into public.scoring_rules (user_id, name, condition, points)
           values (%L, 'x', '{"type": "tag_present", "tag": "x"}', 1)$$, tests.get_user_id('mallory')),
  '42501', null, 'alice cannot add a rule for mallory');
select * from tests.affects($$update public.scoring_rules set points = 7 returning id$$, 1, 'alice changes her rule');
select * from tests.affects($$update public.scoring_settings set engagement_half_life_days = 14 returning user_id$$, 1,
  'alice changes her half-life');
select throws_ok($$update public.scoring_settings set user_id = gen_random_uuid()$$, '42501', null,
  'alice cannot move her settings to another user');

-- ==== acting as mallory ====
select tests.authenticate_as('mallory');
select * from tests.affects($$select id from public.scoring_rules$$, 0, 'mallory sees none of alice''s rules');
select * from tests.affects($$select user_id from public.scoring_settings$$, 0, 'mallory sees none of alice''s settings');
select * from tests.affects($$update public.scoring_rules set points = 1000 returning id$$, 0,
  'mallory cannot change alice''s rules');
select * from tests.affects($$delete from public.scoring_rules returning id$$, 0, 'mallory cannot delete alice''s rules');

-- ==== acting as a visitor ====
select tests.authenticate_as_anon();
select throws_ok($$select * from public.scoring_rules$$, '42501', null, 'anon cannot read rules');
select throws_ok($$insert into public.scoring_rules (name, condition, points)
                   values ('x', '{"type": "tag_present", "tag": "x"}', 1)$$, '42501', null, 'anon cannot add rules');
select throws_ok($$select * from public.scoring_settings$$, '42501', null, 'anon cannot read settings');

-- ==== acting as alice again ====
select tests.authenticate_as('alice');
select * from tests.affects($$delete from public.scoring_rules returning id$$, 1, 'alice deletes her rule');

select tests.clear_authentication();

-- Validation: one bad condition per kind, the error naming the field ---------------------

create function tests.rule_rejected(condition jsonb, message text, description text)
returns text
language sql
as $$
  select throws_ok(
    format($q$insert into public.scoring_rules (user_id, name, condition, points) values (%L, 'rule', %L, 5)$q$,
      tests.get_user_id('alice'), condition),
    '23514', message, description)
$$;

select tests.rule_rejected('{"type": "age"}',
  'condition.type: expected one of field_present, field_equals, field_matches, email_domain, tag_present, custom_field (profile rules) or event (engagement rule), not "age"',
  'an unknown rule type is refused, naming condition.type');
select tests.rule_rejected('{"type": "field_present", "field": "company", "weight": 2}',
  'condition.weight: unknown key; a field_present rule takes field',
  'an unknown key is refused, naming it');
select tests.rule_rejected('{"type": "field_present", "field": "score"}',
  'condition.field: expected one of first_name, last_name, company, phone, source, not "score"',
  'field_present: a field that is not a lead text field is refused');
select tests.rule_rejected('{"type": "field_present"}',
  'condition.field: expected one of first_name, last_name, company, phone, source, not (missing)',
  'field_present: the field is required');
select tests.rule_rejected('{"type": "field_equals", "field": "source", "value": 3}',
  'condition.value: expected the text to compare with (1 to 320 characters), not 3',
  'field_equals: the value must be text');
select tests.rule_rejected('{"type": "field_matches", "field": "company", "pattern": "(inc"}',
  'condition.pattern: not a valid regular expression: invalid regular expression: parentheses () not balanced',
  'field_matches: an invalid regular expression is refused with the reason');
select tests.rule_rejected('{"type": "email_domain", "free_mail": false, "domains": ["acme.com"]}',
  'condition: an email_domain rule takes either free_mail (true or false) or domains (a list), not both or neither',
  'email_domain: free_mail and domains together are refused');
select tests.rule_rejected('{"type": "email_domain", "free_mail": "no"}',
  'condition.free_mail: expected true or false, not "no"',
  'email_domain: free_mail must be a boolean');
select tests.rule_rejected('{"type": "email_domain", "domains": ["acme.com", "acme"]}',
  'condition.domains[1]: "acme" is not a domain such as "acme.com"',
  'email_domain: a bad domain is named by its index');
select tests.rule_rejected('{"type": "tag_present", "tag": ""}',
  'condition.tag: expected a tag (1 to 100 characters), not ""',
  'tag_present: an empty tag is refused');
select tests.rule_rejected('{"type": "custom_field", "key": "employees", "op": "more"}',
  'condition.op: expected one of eq, neq, in, gt, gte, lt, lte, contains, exists, not_exists, not "more"',
  'custom_field: an unknown comparison is refused');
select tests.rule_rejected('{"type": "custom_field", "key": "employees", "op": "gte"}',
  'condition.value: gte needs a value to compare with',
  'custom_field: a comparison needs its value');
select tests.rule_rejected('{"type": "custom_field", "key": "plan", "op": "in", "value": "pro"}',
  'condition.value: in needs a non-empty array of allowed values, not "pro"',
  'custom_field: in needs a list');
select tests.rule_rejected('{"type": "custom_field", "key": "plan", "op": "exists", "value": 1}',
  'condition.value: exists takes no value',
  'custom_field: exists takes no value');
select tests.rule_rejected('{"type": "event", "properties": {"a": 1}}',
  'condition: an event rule needs event_type, event_name or both',
  'event: a type or a name is required');
select tests.rule_rejected('{"type": "event", "event_name": "click", "cap": 10}',
  'condition: cap and period go together: at most cap points per lead per period',
  'event: a cap needs a period');
select tests.rule_rejected('{"type": "event", "event_name": "click", "cap": 10, "period": "year"}',
  'condition.period: expected one of day, week, month, not "year"',
  'event: the period is day, week or month');
select tests.rule_rejected('{"type": "event", "event_name": "click", "cap": 2.5, "period": "day"}',
  'condition.cap: expected a whole number from 1 to 100000, not 2.5',
  'event: the cap is a whole number');
select tests.rule_rejected('{"type": "event", "event_name": "click", "properties": []}',
  'condition.properties: expected an object the event''s properties must contain, such as {"plan": "pro"}, not []',
  'event: properties is an object');

-- The outline is the check constraint's, which names itself.
select throws_ok(
  format($q$insert into public.scoring_rules (user_id, name, condition, points) values (%L, 'rule', '{}', 5)$q$,
    tests.get_user_id('alice')),
  '23514', 'new row for relation "scoring_rules" violates check constraint "scoring_rules_condition_check"',
  'a condition without a type breaks scoring_rules_condition_check');
select throws_ok(
  format($q$insert into public.scoring_rules (user_id, name, condition, points)
            values (%L, 'rule', '{"type": "tag_present", "tag": "x"}', 1001)$q$, tests.get_user_id('alice')),
  '23514', 'new row for relation "scoring_rules" violates check constraint "scoring_rules_points_check"',
  'points beyond 1000 break scoring_rules_points_check');
select throws_ok(
  format($q$insert into public.scoring_settings (user_id, engagement_half_life_days) values (%L, 0)$q$,
    tests.get_user_id('mallory')),
  '23514',
  'new row for relation "scoring_settings" violates check constraint "scoring_settings_engagement_half_life_days_check"',
  'a half-life of 0 days is refused');

-- Every kind, valid ---------------------------------------------------------------------------

select lives_ok(
  format($q$insert into public.scoring_rules (user_id, name, condition, points)
            select %L, 'rule ' || n, c, 5
            from jsonb_array_elements(%L) with ordinality as x (c, n)$q$,
    tests.get_user_id('alice'),
    '[{"type": "field_present", "field": "phone"},
      {"type": "field_equals", "field": "email", "value": "ceo@acme.com"},
      {"type": "field_matches", "field": "company", "pattern": "(inc|ltd)\\.?$"},
      {"type": "email_domain", "free_mail": true},
      {"type": "email_domain", "domains": ["acme.com", "Example.ORG"]},
      {"type": "tag_present", "tag": "vip"},
      {"type": "custom_field", "key": "plan", "op": "in", "value": ["pro", "team"]},
      {"type": "custom_field", "key": "trial", "op": "not_exists"},
      {"type": "event", "event_type": "page_view"},
      {"type": "event", "event_type": "email", "event_name": "email_clicked", "properties": {"machine": false},
       "cap": 20, "period": "week"}]'),
  'a valid rule of every kind is accepted');
select is((select count(*)::integer from public.scoring_rules where user_id = tests.get_user_id('alice')), 10,
  'all ten are stored');
select throws_ok(
  format($q$update public.scoring_rules set condition = '{"type": "tag_present"}' where user_id = %L$q$,
    tests.get_user_id('alice')),
  '23514', 'condition.tag: expected a tag (1 to 100 characters), not (missing)',
  'an update is validated too');

-- A rule change files a rescore request for its owner.
select isnt_empty(
  format('select from private.scoring_rescores where user_id = %L', tests.get_user_id('alice')),
  'changing rules files a request to rescore the owner''s leads');
select is_empty(
  format('select from private.scoring_rescores where user_id = %L', tests.get_user_id('mallory')),
  'nothing is filed for anyone else');

-- The validation functions are the system's alone.
select ok(not has_function_privilege('authenticated', 'private.scoring_rule_problem(jsonb)', 'EXECUTE'),
  'authenticated may not call the validator directly');

select * from finish();
rollback;
