-- Recipient lists (migrations email_recipient_lists and email_fan_out): a malformed list is
-- refused when it is saved, by the owner or the system, with a message naming the first bad
-- entry by its JSON path; lead selectors resolve against the owner's leads only, criteria
-- AND within a selector and entries OR; recipients are deduplicated case-insensitively and
-- a lead's data wins over an explicit entry's.
begin;
\ir _helpers.psql

select plan(47);

do $$
begin
  perform tests.create_user('alice');
  perform tests.create_user('mallory');
end;
$$;

-- Malformed lists ----------------------------------------------------------------------------
-- Each list, inserted by alice through the API, and the message it must fail with (23514).
create table tests.bad_lists (ord serial, list jsonb, message text);
insert into tests.bad_lists (list, message) values
  ('[42]',
   'recipient_list[0]: expected a recipient such as {"email": "ada@example.com"} or a lead selector such as {"leads": {"tags": ["vip"]}}, not 42'),
  ('["ada@example.test", "bob@"]',
   'recipient_list[1]: "bob@" is not an email address'),
  ('[{"email": "ada@example.test"}, {"email": "carol@example.test"}, {"email": "bob@"}]',
   'recipient_list[2].email: "bob@" is not an email address'),
  ('[{"email": 42}]',
   'recipient_list[0].email: 42 is not an email address'),
  ('[{"email": "two words@example.test"}]',
   'recipient_list[0].email: "two words@example.test" is not an email address'),
  ('[{"first_name": "Ada"}]',
   'recipient_list[0]: needs "email" (a recipient), "leads" (a lead selector) or "list" (a subscription list)'),
  ('[{"email": "ada@example.test", "nmae": "Ada"}]',
   'recipient_list[0]: unknown key "nmae"; a recipient takes email, first_name, last_name and data'),
  ('[{"email": "ada@example.test", "first_name": "  "}]',
   'recipient_list[0].first_name: expected a name of 1 to 200 characters or null, not "  "'),
  ('[{"email": "ada@example.test", "last_name": 7}]',
   'recipient_list[0].last_name: expected a name of 1 to 200 characters or null, not 7'),
  ('[{"email": "ada@example.test", "data": ["plan"]}]',
   'recipient_list[0].data: expected an object of merge fields such as {"plan": "pro"}, not ["plan"]'),
  ('[{"leads": ["vip"]}]',
   'recipient_list[0].leads: expected an object such as {"tags": ["vip"]}, not ["vip"]'),
  ('[{"leads": {}, "email": "ada@example.test"}]',
   'recipient_list[0]: unknown key "email"; a lead selector has only "leads"'),
  ('[{"leads": {"tag": ["vip"]}}]',
   'recipient_list[0].leads: unknown key "tag"; a lead selector takes ids, tags, statuses and min_score'),
  ('[{"leads": {"ids": "0b9ae1f2-7d1a-4c53-9a43-2a6a3e0d3c11"}}]',
   'recipient_list[0].leads.ids: expected an array of lead ids, not "0b9ae1f2-7d1a-4c53-9a43-2a6a3e0d3c11"'),
  ('[{"leads": {"ids": ["0b9ae1f2-7d1a-4c53-9a43-2a6a3e0d3c11", "lead-2"]}}]',
   'recipient_list[0].leads.ids[1]: "lead-2" is not a lead id (a uuid)'),
  ('[{"leads": {"tags": ["vip", 1]}}]',
   'recipient_list[0].leads.tags[1]: expected a tag (a string), not 1'),
  ('[{"leads": {"statuses": ["hot"]}}]',
   'recipient_list[0].leads.statuses[0]: "hot" is not a lead status (new, qualified, contacted, converted, lost)'),
  ('[{"leads": {"min_score": "10"}}]',
   'recipient_list[0].leads.min_score: expected a whole number from -100000 to 100000, not "10"'),
  ('[{"leads": {"min_score": 2.5}}]',
   'recipient_list[0].leads.min_score: expected a whole number from -100000 to 100000, not 2.5'),
  ('[{"email": "ada@example.test"}, {"leads": {"tags": ["vip"]}}, {"leads": {"statuses": ["new", "won"]}}]',
   'recipient_list[2].leads.statuses[1]: "won" is not a lead status (new, qualified, contacted, converted, lost)');

grant select on tests.bad_lists to authenticated;

select tests.authenticate_as('alice');
select throws_ok(
  tests.insert_sql('email_campaigns', null, jsonb_build_object('recipient_list', b.list)),
  '23514',
  b.message,
  format('a malformed list is refused with: %s', b.message)
)
from tests.bad_lists as b
order by b.ord;

select lives_ok(
  tests.insert_sql('email_campaigns', null, jsonb_build_object('recipient_list', '[
    "grace@example.test",
    {"email": "ada@example.test", "first_name": "Ada", "last_name": null, "data": {"plan": "pro"}},
    {"leads": {}},
    {"leads": {"ids": ["0B9AE1F2-7D1A-4C53-9A43-2A6A3E0D3C11"], "tags": ["vip"], "statuses": ["new"], "min_score": -5}}
  ]'::jsonb)),
  'a list using every form is accepted'
);

-- The same check on update, and for the system.
select throws_ok(
  format('update public.email_campaigns set recipient_list = %L where id = %L',
    '[{"email": "ok@example.test"}, {"email": "bob@"}]',
    tests.insert_row('email_campaigns', null)),
  '23514',
  'recipient_list[1].email: "bob@" is not an email address',
  'the owner cannot update a list into a malformed one'
);
select tests.clear_authentication();
select throws_ok(
  tests.insert_sql('email_campaigns', 'alice', '{"recipient_list": [{"email": "bob@"}]}'),
  '23514',
  'recipient_list[0].email: "bob@" is not an email address',
  'the system cannot save a malformed list either'
);
select throws_ok(
  tests.insert_sql('email_campaigns', 'alice', '{"recipient_list": {"email": "ada@example.test"}}'),
  '23514',
  'new row for relation "email_campaigns" violates check constraint "email_campaigns_recipient_list_check"',
  'a list that is not an array is left to the table''s check'
);
do $$
declare
  hint text;
begin
  perform tests.insert_row('email_campaigns', 'alice', '{"recipient_list": [{"email": "bob@"}]}');
exception when check_violation then
  get stacked diagnostics hint = pg_exception_hint;
  perform set_config('tests.hint', hint, true);
end;
$$;
select is(
  current_setting('tests.hint'),
  'recipient_list is an array of {"email": ..., "first_name"?, "last_name"?, "data"?}, '
    || '{"leads": {"ids"?, "tags"?, "statuses"?, "min_score"?}}, {"list": <id of one of your lists>} and {"segment": <id of one of your segments>}; '
    || 'entries are counted from 0.',
  'the hint shows the shape of a list and that entries count from 0'
);

-- Selectors ----------------------------------------------------------------------------------
-- alice's leads (scores: company +10, phone +5), and one of mallory's that matches everything.
create table tests.leads as
select l.name, tests.insert_row('leads', l.owner, jsonb_build_object(
  'email', l.email, 'first_name', l.first_name, 'company', l.company, 'phone', l.phone,
  'tags', l.tags, 'status', l.status, 'custom_fields', l.custom_fields
)) as id
from (values
  ('ada', 'alice', 'Ada@Example.test', 'Ada', 'Analytical', '+44 1', '{vip,beta}'::text[], 'qualified', '{"plan": "pro"}'::jsonb),
  ('bob', 'alice', 'bob@example.test', 'Bob', null, null, '{beta}', 'new', '{}'),
  ('carol', 'alice', 'carol@example.test', null, 'Carol Co', null, '{}', 'contacted', '{}'),
  ('dave', 'alice', 'dave@example.test', 'Dave', null, null, '{vip}', 'lost', '{}'),
  ('mal', 'mallory', 'mal@example.test', 'Mal', 'Mal Inc', '+1 555', '{vip,beta}', 'qualified', '{}')
) as l (name, owner, email, first_name, company, phone, tags, status, custom_fields);

-- The addresses a list resolves to for an owner, sorted, lower case.
create function tests.resolved(owner text, list jsonb)
returns text[]
language sql
as $$
  select coalesce(array_agg(lower(r.email) order by lower(r.email)), '{}')
  from private.resolve_email_recipients(tests.get_user_id(owner), list) as r
$$;

select is(tests.resolved('alice', '[{"leads": {}}]'),
  array['ada@example.test', 'bob@example.test', 'carol@example.test', 'dave@example.test'],
  'an empty selector selects every lead of the owner, and only hers');
select is(tests.resolved('alice', '[{"leads": {"tags": ["vip"]}}]'),
  array['ada@example.test', 'dave@example.test'],
  'tags: leads with any of the tags');
select is(tests.resolved('alice', '[{"leads": {"tags": ["vip", "beta"]}}]'),
  array['ada@example.test', 'bob@example.test', 'dave@example.test'],
  'tags: any of several');
select is(tests.resolved('alice', '[{"leads": {"statuses": ["new", "lost"]}}]'),
  array['bob@example.test', 'dave@example.test'],
  'statuses: leads in any of them');
select is(tests.resolved('alice', '[{"leads": {"min_score": 10}}]'),
  array['ada@example.test', 'carol@example.test'],
  'min_score: leads scoring at least that');
select is(tests.resolved('alice', '[{"leads": {"tags": ["vip"], "statuses": ["qualified"]}}]'),
  array['ada@example.test'],
  'criteria within one selector AND together');
select is(tests.resolved('alice', '[{"leads": {"tags": ["beta"], "min_score": 1}}]'),
  array['ada@example.test'],
  'tags AND min_score');
select is(tests.resolved('alice', '[{"leads": {"statuses": ["lost"]}}, {"leads": {"min_score": 10}}]'),
  array['ada@example.test', 'carol@example.test', 'dave@example.test'],
  'entries OR together');
select is(
  tests.resolved('alice', jsonb_build_array(jsonb_build_object('leads', jsonb_build_object('ids',
    jsonb_build_array((select id from tests.leads where name = 'bob'), (select id from tests.leads where name = 'mal')))))),
  array['bob@example.test'],
  'ids: only the owner''s leads, even when another user''s lead id is listed'
);
select is(tests.resolved('alice', '[{"leads": {"ids": []}}]'), '{}'::text[],
  'an empty ids list selects no lead');
select is(tests.resolved('alice', '[{"leads": {"tags": ["nobody-has-this"]}}]'), '{}'::text[],
  'a selector matching nothing resolves to nobody');
select is(tests.resolved('mallory', '[{"leads": {"tags": ["vip"]}}]'), array['mal@example.test'],
  'another owner''s selector sees only his own leads');
select is(tests.resolved('alice', '[]'), '{}'::text[], 'an empty list resolves to nobody');

-- Dedupe and merge ---------------------------------------------------------------------------
select is(
  tests.resolved('alice', '["ADA@example.test", {"email": "ada@EXAMPLE.test", "first_name": "Second"}, {"leads": {"tags": ["vip"]}}]'),
  array['ada@example.test', 'dave@example.test'],
  'an address listed three times (explicitly in two cases, and by a selector) is one recipient'
);
select is(
  (select count(*)::integer
   from private.resolve_email_recipients(tests.get_user_id('alice'),
     '[{"email": "x@example.test", "first_name": "First"}, {"email": "X@Example.TEST", "first_name": "Second"}, "x@EXAMPLE.test"]')),
  1,
  'explicit entries of one address in three spellings are one recipient'
);
select is(
  (select row(r.email, r.first_name)::text
   from private.resolve_email_recipients(tests.get_user_id('alice'),
     '[{"email": "x@example.test", "first_name": "First"}, {"email": "X@Example.TEST", "first_name": "Second"}]') as r),
  '(x@example.test,First)',
  'among explicit duplicates the first entry counts'
);

create table tests.merged as
select r.*
from private.resolve_email_recipients(tests.get_user_id('alice'), '[
  {"email": "ADA@example.test", "first_name": "Explicit", "last_name": "Lovelace", "data": {"plan": "free", "color": "red"}},
  {"email": "carol@example.test", "first_name": "Carol", "data": {"color": "blue"}},
  {"email": "zoe@example.test", "first_name": "Zoe", "data": {"vip": true}},
  {"leads": {"tags": ["vip"]}}
]') as r;

select is(
  (select row(email, lead_id, first_name, last_name)::text from tests.merged where lower(email) = 'ada@example.test'),
  row('Ada@Example.test', (select id from tests.leads where name = 'ada'), 'Ada', 'Lovelace')::text,
  'an explicit entry that is a lead: the lead''s address and names win, the entry fills what the lead lacks'
);
select is(
  (select merge_data from tests.merged where lower(email) = 'ada@example.test'),
  '{"plan": "pro", "color": "red", "company": "Analytical"}'::jsonb,
  'merge data: the entry''s data, overridden by the lead''s company and custom fields'
);
select is(
  (select row(lead_id, first_name, merge_data)::text from tests.merged where email = 'carol@example.test'),
  row((select id from tests.leads where name = 'carol'), 'Carol', '{"color": "blue", "company": "Carol Co"}'::jsonb)::text,
  'an explicit address of a lead no selector picked is still linked to that lead'
);
select is(
  (select row(lead_id, first_name, merge_data)::text from tests.merged where email = 'zoe@example.test'),
  row(null::uuid, 'Zoe', '{"vip": true}'::jsonb)::text,
  'an explicit address that is nobody''s lead keeps its own data and no lead'
);
select is(
  (select row(lead_id, first_name, merge_data)::text from tests.merged where email = 'dave@example.test'),
  row((select id from tests.leads where name = 'dave'), 'Dave', '{}'::jsonb)::text,
  'a lead from a selector brings its own names and data'
);
select is((select count(*)::integer from tests.merged), 4, 'four distinct recipients in all');

select * from finish();
rollback;
