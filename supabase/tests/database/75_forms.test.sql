-- Forms and consents (migration forms): owner-only forms with checked fields, lists and
-- redirect URLs; consents readable by their owner and written only by the system; and
-- private.submit_form: the lead upserted by email_normalized, tags and custom fields merged,
-- lists joined (and re-joined), the consent recorded, the subscription state set.
begin;
\ir _helpers.psql

select plan(20);

do $$
begin
  perform tests.create_user('alice');
  perform tests.create_user('mallory');
end;
$$;

select tests.authenticate_as('alice');
insert into public.lists (name) values ('Newsletter');
insert into public.forms (name, fields, tags, list_ids, consent_text, consent_version, success_url)
select 'Single', '{first_name,plan}', '{signup}', array[l.id], 'Yes, email me.', 'v1', 'https://acme.example/thanks'
from public.lists as l;
insert into public.forms (name, double_opt_in, list_ids)
select 'Double', true, array[l.id] from public.lists as l;

select throws_ok($$insert into public.forms (name, fields) values ('x', '{email}')$$, '23514', null,
  'email is always accepted, never listed in fields');
select throws_ok($$insert into public.forms (name, fields) values ('x', '{"Bad Name"}')$$, '23514', null,
  'field names are identifiers');
select throws_ok($$insert into public.forms (name, success_url) values ('x', 'javascript:alert(1)')$$, '23514',
  'new row for relation "forms" violates check constraint "forms_success_url_check"', 'success_url is http(s)');
select throws_ok($$insert into public.forms (name, confirm_url) values ('x', 'http://evil.example/')$$, '23514', null,
  'plain http only on localhost');
select lives_ok($$insert into public.forms (name, confirm_url) values ('local', 'http://localhost:3000/confirmed')$$,
  'http on localhost is fine');
select throws_ok($$insert into public.consents (lead_id, purpose) select id, 'x' from public.leads$$, '42501', null,
  'owners do not write consents');

select tests.clear_authentication();
create table tests.alice_list as select l.id from public.lists as l where l.user_id = tests.get_user_id('alice');
grant select on tests.alice_list to authenticated;
select tests.authenticate_as('mallory');
select is((select count(*)::integer from public.forms), 0, 'mallory sees none of alice''s forms');
select throws_ok(
  format($$insert into public.forms (name, list_ids) values ('steal', '{%s}')$$,
         (select id from tests.alice_list)),
  '23503', null, 'nor may her form join lists that are not hers');
select tests.clear_authentication();
select throws_ok(
  format($$insert into public.forms (user_id, name, list_ids) values ('%s', 'steal', '{%s}')$$,
         tests.get_user_id('mallory'),
         (select l.id from public.lists as l where l.user_id = tests.get_user_id('alice'))),
  '23503', format('list_ids: you have no list %s',
                  (select l.id from public.lists as l where l.user_id = tests.get_user_id('alice'))),
  'the error names the list');

-- ==== submit_form, as the forms function calls it ====
create function tests.submit(form_name text, address text, lead_fields jsonb default '{}', custom jsonb default '{}')
returns text
language sql
as $$
  select s.subscription_status || ' ' || s.needs_confirmation
  from public.forms as f,
       private.submit_form(f.id, address, lead_fields, custom, '203.0.113.5', 'Test/1.0') as s
  where f.name = form_name and f.user_id = tests.get_user_id('alice')
$$;

select is(tests.submit('Single', 'Ada@Acme.com', '{"first_name": "Ada"}', '{"plan": "pro"}'), 'subscribed false',
  'a single opt-in form subscribes a new lead');
select results_eq(
  $$select l.email, l.first_name, l.tags, l.custom_fields, l.source from public.leads as l where l.user_id = tests.get_user_id('alice')$$,
  $$values ('Ada@Acme.com', 'Ada', '{signup}'::text[], '{"plan": "pro"}'::jsonb, 'form: Single')$$,
  'with the accepted fields, the form''s tags and its name as source');
select results_eq(
  $$select c.purpose, c.consent_text, c.consent_version, c.ip_address, c.user_agent, f.name
    from public.consents as c join public.forms as f on f.id = c.form_id$$,
  $$values ('email_marketing', 'Yes, email me.', 'v1', '203.0.113.5'::inet, 'Test/1.0', 'Single')$$,
  'the consent is recorded with its text, version, form, address and user agent');
update public.leads set tags = '{vip}' where email = 'Ada@Acme.com';
update public.list_memberships set unsubscribed_at = now();
select is(tests.submit('Single', 'ada@acme.COM', '{}', '{"seats": "3"}'), 'subscribed false', 'a repeat post');
select results_eq(
  $$select l.tags, l.custom_fields, l.first_name, (select count(*)::integer from public.list_memberships as m where m.lead_id = l.id and m.unsubscribed_at is null)
    from public.leads as l where l.user_id = tests.get_user_id('alice')$$,
  $$values ('{signup,vip}'::text[], '{"plan": "pro", "seats": "3"}'::jsonb, 'Ada', 1)$$,
  'updates the one lead: tags and custom fields merged, absent fields kept, the list re-joined');

select is(tests.submit('Double', 'new@acme.com'), 'unconfirmed true', 'a double opt-in form leaves a new lead unconfirmed');
select is(tests.submit('Double', 'ada@acme.com'), 'subscribed false', 'and a subscribed one subscribed');
select is(tests.submit('Single', 'new@acme.com'), 'subscribed false', 'a single opt-in form subscribes an unconfirmed lead');
insert into public.email_suppressions (user_id, email, reason) values (tests.get_user_id('alice'), 'gone@acme.com', 'unsubscribed');
select is(tests.submit('Double', 'gone@acme.com'), 'unsubscribed false',
  'an unsubscribed address stays unsubscribed: no confirmation goes to it');
select is((select count(*)::integer from public.consents), 3,
  'each post of the form with a consent text records one; the form without records none');

update public.forms set is_active = false where name = 'Double';
select throws_ok($$select tests.submit('Double', 'late@acme.com')$$, 'P0002', 'form: no such form, or it is inactive',
  'an inactive form takes nothing');

select * from finish();
rollback;
