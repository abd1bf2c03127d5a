-- Double opt-in (migration double_opt_in): the confirmation email is a confirmation campaign
-- to {"confirm": lead id}, an entry only the system writes, resolved to the lead while it is
-- unconfirmed (suppression still applies), re-sent at most every 5 minutes; confirming
-- subscribes the lead and records a consent; the expiry job deletes leads unconfirmed since
-- creation after 30 days, owner by owner, a failing owner recorded and the others done.
begin;
\ir _helpers.psql

select plan(16);

do $$
begin
  perform tests.create_user('alice');
  perform tests.create_user('mallory');
end;
$$;

select tests.authenticate_as('alice');
insert into public.forms (name, double_opt_in, consent_text, consent_version, confirm_body)
values ('Double', true, 'Email me.', 'v3', '<a href="{{confirm_url}}">Yes</a>');
select throws_ok($$insert into public.forms (name, confirm_body) values ('x', '<p>no link</p>')$$, '23514', null,
  'a confirmation body must carry {{confirm_url}}');
insert into public.leads (email) values ('sub@acme.com');
select throws_ok(
  $$insert into public.email_campaigns (subject, content, recipient_list, purpose) values ('s', 'c', '[]', 'confirmation')$$,
  '42501', null, 'owners cannot write purpose');
select throws_ok(
  format($$insert into public.email_campaigns (subject, content, recipient_list) values ('s', 'c', '[{"confirm": "%s"}]')$$,
         (select id from public.leads)),
  '23514', 'recipient_list[0]: {"confirm": ...} is for confirmation emails only',
  'nor reach a lead through a confirmation entry');
select tests.clear_authentication();
select is(private.recipient_list_problem('[{"confirm": "x"}]'), 'recipient_list[0].confirm: "x" is not a lead id (a uuid)',
  'a confirmation entry names a lead id');

create function tests.submit(address text)
returns text
language sql
as $$
  select s.subscription_status
  from public.forms as f, private.submit_form(f.id, address, '{}', '{}', null, null) as s
  where f.name = 'Double'
$$;
create function tests.send(address text)
returns text
language sql
as $$
  select private.send_form_confirmation(f.id, l.id, 'https://fn.example/forms/confirm/TOKEN')
  from public.forms as f, public.leads as l
  where f.name = 'Double' and l.email = address
$$;

select is(tests.submit('new@acme.com'), 'unconfirmed', 'a double opt-in post leaves the lead unconfirmed');
select is(tests.send('new@acme.com'), 'queued', 'its confirmation email is queued');
select results_eq(
  $$select c.purpose, c.status, c.content, d.email, d.lead_id = l.id
    from public.email_campaigns as c
    join public.email_deliveries as d on d.email_campaign_id = c.id
    join public.leads as l on l.email = 'new@acme.com'$$,
  $$values ('confirmation', 'sending', '<a href="https://fn.example/forms/confirm/TOKEN">Yes</a>', 'new@acme.com', true)$$,
  'as a confirmation campaign to the lead, the link in its body');
select is(tests.send('new@acme.com'), 'throttled', 'a second within 5 minutes is not sent');
select is(tests.send('sub@acme.com'), null, 'a subscribed lead is not asked');
insert into public.email_suppressions (user_id, email, reason) values (tests.get_user_id('alice'), 'blocked@acme.com', 'manual');
select tests.submit('blocked@acme.com');
select is(tests.send('blocked@acme.com'), 'suppressed', 'a suppressed address gets a suppressed delivery, not an email');

select is(
  (select private.confirm_form_lead(f.id, l.id, '192.0.2.4', 'Reader/2') from public.forms as f, public.leads as l
   where f.name = 'Double' and l.email = 'new@acme.com'),
  'subscribed', 'confirming subscribes the lead');
select results_eq(
  $$select c.purpose, c.consent_version, c.ip_address, c.user_agent from public.consents as c
    join public.leads as l on l.id = c.lead_id where l.email = 'new@acme.com' order by c.created_at, c.purpose desc$$,
  $$values ('email_marketing', 'v3', null::inet, null::text), ('double_opt_in', 'v3', '192.0.2.4'::inet, 'Reader/2')$$,
  'and records the confirmation beside the sign-up');

-- ==== expiry ====
insert into public.leads (user_id, email, subscription_status, created_at, subscription_changed_at)
values (tests.get_user_id('alice'), 'old@acme.com', 'unconfirmed', now() - interval '31 days', now() - interval '31 days'),
       (tests.get_user_id('alice'), 'young@acme.com', 'unconfirmed', now() - interval '3 days', now() - interval '3 days'),
       (tests.get_user_id('alice'), 'customer@acme.com', 'unconfirmed', now() - interval '400 days', now() - interval '40 days'),
       (tests.get_user_id('mallory'), 'm-old@evil.example', 'unconfirmed', now() - interval '31 days', now() - interval '31 days');
-- The insert trigger stamps subscription_changed_at: put the test's times back.
update public.leads set subscription_changed_at = created_at where email in ('old@acme.com', 'young@acme.com', 'm-old@evil.example');
update public.leads set subscription_changed_at = now() - interval '40 days' where email = 'customer@acme.com';

-- mallory's leads cannot be deleted (a trigger of hers fails).
create function tests.refuse_delete() returns trigger language plpgsql as $$
begin
  raise exception 'mallory''s audit trigger refuses';
end;
$$;
create trigger refuse_delete before delete on public.leads
for each row when (old.email = 'm-old@evil.example') execute function tests.refuse_delete();

select is(private.expire_unconfirmed_leads(), '{"deleted": 1, "failed_owners": 1}',
  'one expired lead deleted, one owner failed');
select results_eq(
  $$select email from public.leads where email in ('old@acme.com', 'young@acme.com', 'customer@acme.com', 'm-old@evil.example') order by email$$,
  $$values ('customer@acme.com'), ('m-old@evil.example'), ('young@acme.com')$$,
  'only the lead unconfirmed since creation for over 30 days went; an older lead keeps its data; mallory keeps hers');
select is((select error from private.unconfirmed_expiry_failures where user_id = tests.get_user_id('mallory')),
  'mallory''s audit trigger refuses', 'mallory''s failure is recorded on her row');
select is(private.expire_unconfirmed_leads(), '{"deleted": 0, "failed_owners": 1}', 'a second run deletes nothing more');

select * from finish();
rollback;
