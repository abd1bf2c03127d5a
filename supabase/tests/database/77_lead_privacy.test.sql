-- Privacy (migration lead_privacy): export_lead_data returns everything held about one of the
-- caller's leads; erase_lead deletes the lead and every row naming its address, keeps only a
-- hash, and from then on a lead created on that address (insert, import, a form post, single
-- or double opt-in) starts unsubscribed and an explicit address in a campaign is not sent to.
-- Another owner's lead is "not found" for both.
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
insert into public.leads (email, first_name, tags) values ('Ada@Acme.com', 'Ada', '{vip}'), ('keep@acme.com', 'Kim', '{}');
insert into public.list_memberships (list_id, lead_id) select li.id, l.id from public.lists as li, public.leads as l;
insert into public.forms (name, consent_text) values ('Single', 'Email me.');
insert into public.forms (name, double_opt_in) values ('Double', true);
insert into public.analytics_events (event_type, event_name, properties)
select 'track', 'signed_up', jsonb_build_object('lead_id', l.id) from public.leads as l where l.email = 'Ada@Acme.com';
insert into public.analytics_events (event_type, event_name, properties)
values ('track', 'viewed', '{"email": "ada@acme.com"}'), ('track', 'other', '{"email": "keep@acme.com"}');
select tests.clear_authentication();
insert into public.consents (user_id, lead_id, purpose, consent_text, consent_version)
select user_id, id, 'email_marketing', 'Email me.', 'v1' from public.leads where email = 'Ada@Acme.com';
insert into public.email_suppressions (user_id, email, reason) values (tests.get_user_id('alice'), 'ada@acme.com', 'complaint');
select tests.insert_row('email_campaigns', 'alice', '{"recipient_list": ["ada@acme.com", "keep@acme.com"],
  "status": "scheduled", "send_at": "2020-01-01T00:00:00Z", "subject": "Spring"}');
select private.email_tick();

create table tests.ids as
select (select id from public.leads where email = 'Ada@Acme.com') as ada,
       (select id from public.leads where email = 'keep@acme.com') as keep;
grant select on tests.ids to authenticated;

-- ==== export ====
select tests.authenticate_as('alice');
create temporary table exported as select public.export_lead_data((select ada from tests.ids)) as data;
select is((select data #>> '{lead,email}' from exported), 'Ada@Acme.com', 'the export holds the lead');
select is((select data #> '{lead}' ? 'user_id' from exported), false, 'without the owner''s id');
select is((select jsonb_array_length(data -> 'events') from exported), 2, 'its events, by lead id or address');
select is((select data #>> '{consents,0,consent_text}' from exported), 'Email me.', 'its consents');
select is((select data #>> '{lists,0,list}' from exported), 'Newsletter', 'its lists');
select is((select data #>> '{email_deliveries,0,subject}' from exported), 'Spring', 'its email deliveries');
select is((select data #>> '{suppressions,0,reason}' from exported), 'complaint', 'its suppressions');

-- ==== mallory ====
select tests.authenticate_as('mallory');
select throws_ok(format('select public.export_lead_data(%L)', (select ada from tests.ids)), 'P0002',
  format('export_lead_data: you have no lead %s', (select ada from tests.ids)), 'mallory cannot export alice''s lead');
select throws_ok(format('select public.erase_lead(%L)', (select ada from tests.ids)), 'P0002',
  format('erase_lead: you have no lead %s', (select ada from tests.ids)), 'nor erase it');

-- ==== erase ====
select tests.authenticate_as('alice');
select is(public.erase_lead((select ada from tests.ids)) ->> 'address_kept_as_hash', 'true', 'alice erases Ada');
select tests.clear_authentication();
select results_eq(
  $$select (select count(*)::integer from public.leads where email_normalized = 'ada@acme.com'),
           (select count(*)::integer from public.analytics_events where user_id = tests.get_user_id('alice')),
           (select count(*)::integer from public.email_deliveries where lower(email) = 'ada@acme.com'),
           (select count(*)::integer from public.email_suppressions where lower(email) = 'ada@acme.com'),
           (select count(*)::integer from public.consents),
           (select count(*)::integer from public.list_memberships)$$,
  $$values (0, 1, 0, 0, 0, 1)$$,
  'the lead, its events, deliveries, suppression, consents and memberships are gone; Kim''s stay');
select is((select count(*)::integer from private.erased_addresses where user_id = tests.get_user_id('alice')
           and address_hash = private.address_hash(tests.get_user_id('alice'), ' ADA@acme.com')), 1,
  'only the address''s hash is kept');
select is(
  (select array_agg(column_name::text order by ordinal_position) from information_schema.columns
   where table_schema = 'private' and table_name = 'erased_addresses'),
  array['user_id', 'address_hash', 'erased_at'], 'not the address: a SHA-256, the owner and the time');

-- ==== never again ====
select tests.authenticate_as('alice');
select is(public.import_leads('[{"email": "ada@acme.com", "first_name": "Ada"}]') ->> 'inserted', '1',
  'the address can be imported again');
select is((select subscription_status from public.leads where email_normalized = 'ada@acme.com'), 'unsubscribed',
  'but starts unsubscribed');
delete from public.leads where email_normalized = 'ada@acme.com';
select tests.clear_authentication();
-- A form post, as the forms function makes it (private.submit_form, as the system).
create function tests.post_form(form_name text, address text)
returns text
language sql
as $$
  select s.subscription_status || ' ' || s.needs_confirmation
  from public.forms as f,
       private.submit_form(f.id, address, '{"first_name": "Ada"}', '{}', '203.0.113.5', 'Test/1.0') as s
  where f.name = form_name and f.user_id = tests.get_user_id('alice')
$$;
select is(tests.post_form('Single', 'Ada@Acme.com'), 'unsubscribed false',
  'a form post on the erased address creates the lead unsubscribed, though the form subscribes');
select is(tests.post_form('Double', 'ada@acme.com'), 'unsubscribed false',
  'and a double opt-in post leaves it so: no confirmation email goes out');
select results_eq(
  $$select subscription_status, first_name from public.leads
    where user_id = tests.get_user_id('alice') and email_normalized = 'ada@acme.com'$$,
  $$values ('unsubscribed', 'Ada')$$, 'the one lead holds the posted fields, unsubscribed');
delete from public.leads where email_normalized = 'ada@acme.com';
select results_eq(
  $$select r.email from private.resolve_email_recipients(tests.get_user_id('alice'), '["ada@acme.com", "new@acme.com"]') as r$$,
  $$values ('new@acme.com')$$,
  'an erased address in a campaign is not sent to');
select is(
  (select count(*)::integer from private.resolve_email_recipients(tests.get_user_id('mallory'), '["ada@acme.com"]')),
  1, 'another owner may still send to the same address');

select * from finish();
rollback;
