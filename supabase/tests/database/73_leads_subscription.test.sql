-- Subscription state on leads (migration leads_subscription_status): subscribed by default,
-- unconfirmed or unsubscribed otherwise; unsubscribes and complaints (not manual suppressions)
-- unsubscribe the owner's lead of that address, now and for leads created later; campaign
-- fan-out and workflow send_email steps send only to subscribed leads.
begin;
\ir _helpers.psql

select plan(16);

do $$
begin
  perform tests.create_user('alice');
  perform tests.create_user('bob');
  perform tests.verify_sending_domain('alice', 'acme.com');
end;
$$;

-- ==== the column, as alice ====
select tests.authenticate_as('alice');
insert into public.leads (email) values ('sub@acme.com'), ('gone@acme.com'), ('moot@acme.com');
insert into public.leads (email, subscription_status) values ('pending@acme.com', 'unconfirmed');
select results_eq(
  $$select email, subscription_status from public.leads order by email$$,
  $$values ('gone@acme.com', 'subscribed'), ('moot@acme.com', 'subscribed'),
           ('pending@acme.com', 'unconfirmed'), ('sub@acme.com', 'subscribed')$$,
  'leads are subscribed unless the owner says otherwise');
select throws_ok(
  $$update public.leads set subscription_status = 'maybe' where email = 'sub@acme.com'$$,
  '23514', null, 'another state is refused by leads_subscription_status_check');
select throws_ok(
  $$update public.leads set subscription_changed_at = now() where email = 'sub@acme.com'$$,
  '42501', null, 'subscription_changed_at is the system''s');

insert into public.email_suppressions (email) values ('moot@acme.com');
select is((select subscription_status from public.leads where email = 'moot@acme.com'), 'subscribed',
  'a manual suppression leaves the subscription alone');

-- ==== the system records an unsubscribe and a complaint ====
select tests.clear_authentication();
insert into public.email_suppressions (user_id, email, reason)
values (tests.get_user_id('alice'), 'GONE@acme.com', 'unsubscribed');
update public.email_suppressions set reason = 'complaint' where email = 'moot@acme.com';
insert into public.leads (user_id, email) values (tests.get_user_id('bob'), 'gone@acme.com');
select results_eq(
  $$select u.email::text, l.email, l.subscription_status from public.leads as l
    join auth.users as u on u.id = l.user_id
    where u.email in ('alice@example.test', 'bob@example.test') order by 1, 2$$,
  $$values ('alice@example.test', 'gone@acme.com', 'unsubscribed'),
           ('alice@example.test', 'moot@acme.com', 'unsubscribed'),
           ('alice@example.test', 'pending@acme.com', 'unconfirmed'),
           ('alice@example.test', 'sub@acme.com', 'subscribed'),
           ('bob@example.test', 'gone@acme.com', 'subscribed')$$,
  'an unsubscribe (any case) or a complaint unsubscribes the owner''s lead, and only the owner''s');
select ok((select subscription_changed_at = now() from public.leads where email = 'moot@acme.com'),
  'and stamps subscription_changed_at');

select tests.authenticate_as('alice');
update public.leads set subscription_status = 'subscribed' where email = 'gone@acme.com';
select is((select subscription_status from public.leads where email = 'gone@acme.com'), 'unsubscribed',
  'an unsubscribed address cannot be re-subscribed over its suppression');
delete from public.leads where email = 'gone@acme.com';
insert into public.leads (email) values ('Gone@Acme.com');
select is((select subscription_status from public.leads where email_normalized = 'gone@acme.com'), 'unsubscribed',
  'a lead created again on an unsubscribed address starts unsubscribed');
update public.leads set email = 'sub2@acme.com', subscription_status = 'unsubscribed' where email = 'sub@acme.com';
update public.leads set email = 'sub@acme.com', subscription_status = 'subscribed' where email = 'sub2@acme.com';
select is((select subscription_status from public.leads where email = 'sub@acme.com'), 'subscribed',
  'the owner may unsubscribe and re-subscribe an address nobody unsubscribed');

-- ==== campaign fan-out ====
insert into public.leads (email, tags, subscription_status)
values ('tagged-sub@acme.com', '{t}', 'subscribed'), ('tagged-unconf@acme.com', '{t}', 'unconfirmed'),
       ('tagged-unsub@acme.com', '{t}', 'unsubscribed');
select tests.clear_authentication();
select tests.insert_row('email_campaigns', 'alice', '{"recipient_list": [
  {"leads": {"tags": ["t"]}}, "pending@acme.com", {"email": "nobody@acme.com"}, "Tagged-Unsub@acme.com"],
  "status": "scheduled", "send_at": "2020-01-01T00:00:00Z"}');
select private.email_tick();
select results_eq(
  $$select email, status from public.email_deliveries order by email$$,
  $$values ('nobody@acme.com', 'queued'), ('tagged-sub@acme.com', 'queued')$$,
  'fan-out sends to subscribed leads and lead-less addresses, never to unconfirmed or unsubscribed leads');
select results_eq(
  $$select r.email from private.resolve_email_recipients(tests.get_user_id('alice'), '[{"leads": {}}]') as r
    order by r.email$$,
  $$values ('Gone@Acme.com'), ('moot@acme.com'), ('sub@acme.com'), ('tagged-sub@acme.com')$$,
  'an unsubscribed lead whose address is suppressed is still resolved, for fan-out to record as suppressed');
select tests.insert_row('email_campaigns', 'alice', '{"recipient_list": ["gone@acme.com"],
  "status": "scheduled", "send_at": "2020-01-01T00:00:00Z"}');
select private.email_tick();
select is((select status from public.email_deliveries where email = 'Gone@Acme.com'), 'suppressed',
  'and is recorded as a suppressed delivery');

-- ==== workflow send_email ====
select tests.insert_row('workflows', 'alice', jsonb_build_object('name', 'mail',
  'trigger_config', '{"type": "manual"}'::jsonb,
  'action_config', '{"steps": [{"type": "send_email", "subject": "Workflow hello", "body": "Hello"}]}'::jsonb));
insert into public.workflow_run_requests (user_id, workflow_id, lead_id)
select w.user_id, w.id, l.id
from public.workflows as w, public.leads as l
where w.name = 'mail' and l.email in ('pending@acme.com', 'tagged-sub@acme.com', 'tagged-unsub@acme.com');
select private.run_workflow_batch(1000);
select is(
  (select count(*)::integer from public.workflow_executions as e join public.workflows as w on w.id = e.workflow_id
   where w.name = 'mail' and e.status = 'completed'), 3,
  'send_email steps complete for every lead');
select results_eq(
  $$select d.email from public.email_deliveries as d
    join public.email_campaigns as c on c.id = d.email_campaign_id
    where c.subject = 'Workflow hello'$$,
  $$values ('tagged-sub@acme.com')$$,
  'but only the subscribed lead gets a delivery');

-- ==== privileges ====
select ok(has_column_privilege('authenticated', 'public.leads', 'subscription_status', 'UPDATE')
  and has_column_privilege('authenticated', 'public.leads', 'subscription_status', 'INSERT'),
  'owners write subscription_status');
select ok(not has_column_privilege('authenticated', 'public.leads', 'subscription_changed_at', 'UPDATE')
  and not has_column_privilege('authenticated', 'public.leads', 'subscription_changed_at', 'INSERT'),
  'and not subscription_changed_at');

select * from finish();
rollback;
