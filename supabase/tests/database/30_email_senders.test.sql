-- A tenant sends only as itself: sending_domains (owner-only, system-owned status) and the
-- checks on a campaign's and a workflow's sender at schedule and write time.
begin;
\ir _helpers.psql

select plan(21);

do $$
begin
  perform tests.create_user('alice');
  perform tests.create_user('mallory');
  perform tests.verify_sending_domain('alice', 'alice.example');
  perform tests.verify_sending_domain('mallory', 'mallory.example');
  insert into public.sending_domains (user_id, domain, status, provider_domain_id)
  values (tests.get_user_id('alice'), 'pending.example', 'pending', 'test-pending');
end;
$$;

-- As alice -------------------------------------------------------------------------------
select tests.authenticate_as('alice');

select results_eq(
  'select domain from public.sending_domains order by domain',
  array['alice.example', 'pending.example'],
  'alice sees her own sending domains only'
);
select throws_ok(
  $$insert into public.sending_domains (domain, status) values ('forged.example', 'verified')$$,
  '42501', null,
  'a client cannot add a domain itself (the domains function does, with Resend)'
);
select throws_ok(
  $$update public.sending_domains set status = 'verified' where domain = 'pending.example'$$,
  '42501', null,
  'a client cannot mark its domain verified'
);

-- Campaigns: checked when scheduled.
select lives_ok(
  $$insert into public.email_campaigns (subject, content, recipient_list, from_email)
    values ('Draft', 'Body', '["a@example.test"]', 'ceo@bank.example')$$,
  'a draft may name any sender: nothing is sent from a draft'
);
select throws_ok(
  $$update public.email_campaigns set status = 'scheduled', send_at = now() where subject = 'Draft'$$,
  '23514',
  'email campaign cannot be scheduled: from_email: ceo@bank.example is not on a sending domain you have verified: add bank.example (POST /functions/v1/domains with {"domain": "bank.example"}), publish its DNS records and verify it, or store your own RESEND_API_KEY (PUT /functions/v1/secrets/RESEND_API_KEY)',
  'scheduling from an unverified domain fails, naming the domain and what to do'
);
select throws_ok(
  $$insert into public.email_campaigns (subject, content, recipient_list, from_email, status, send_at)
    values ('Spoof', 'Body', '["a@example.test"]', 'news@mallory.example', 'scheduled', now())$$,
  '23514', null,
  'another owner''s verified domain is not alice''s'
);
select throws_ok(
  $$insert into public.email_campaigns (subject, content, recipient_list, from_email, status, send_at)
    values ('Pending', 'Body', '["a@example.test"]', 'news@pending.example', 'scheduled', now())$$,
  '23514',
  format('email campaign cannot be scheduled: from_email: news@pending.example is on pending.example, which is pending, not verified: publish the DNS records listed in sending_domains.records, then verify it (POST /functions/v1/domains/%s/verify), or send from a verified domain',
    (select id from public.sending_domains where domain = 'pending.example')),
  'a domain still pending verification does not count yet'
);
select throws_ok(
  $$insert into public.email_campaigns (subject, content, recipient_list, from_email, reply_to, status, send_at)
    values ('Reply', 'Body', '["a@example.test"]', 'news@alice.example', 'support@bank.example', 'scheduled', now())$$,
  '23514', null,
  'reply_to is checked like from_email'
);
select lives_ok(
  $$insert into public.email_campaigns (subject, content, recipient_list, from_email, reply_to, status, send_at)
    values ('Good', 'Body', '["a@example.test"]', 'News@Alice.Example', 'team@alice.example', 'scheduled', now() + interval '1 day')$$,
  'a verified domain may be scheduled (any case)'
);
select lives_ok(
  $$insert into public.email_campaigns (subject, content, recipient_list, status, send_at)
    values ('Default', 'Body', '["a@example.test"]', 'scheduled', now() + interval '1 day')$$,
  'no from_email: the platform''s default sender, always allowed'
);
select throws_ok(
  $$update public.email_campaigns set from_email = 'ceo@bank.example' where subject = 'Good'$$,
  '23514', null,
  'a scheduled campaign cannot switch to an unverified sender'
);
select lives_ok(
  $$update public.email_campaigns set subject = 'Good again' where subject = 'Good'$$,
  'other edits of a scheduled campaign are not rechecked'
);
select is(
  (select count(*)::integer from public.email_campaigns where subject in ('Spoof', 'Pending', 'Reply')),
  0,
  'nothing of a refused campaign was written'
);

-- Workflows: checked when written.
select throws_ok(
  $$insert into public.workflows (name, trigger_config, action_config)
    values ('spoof', '{"type": "manual"}',
            '{"steps": [{"type": "add_tag", "tag": "x"},
                        {"type": "send_email", "subject": "Hi", "body": "Hello", "from_email": "ceo@bank.example"}]}')$$,
  '23514',
  'action_config.steps[1].from_email: ceo@bank.example is not on a sending domain you have verified: add bank.example (POST /functions/v1/domains with {"domain": "bank.example"}), publish its DNS records and verify it, or store your own RESEND_API_KEY (PUT /functions/v1/secrets/RESEND_API_KEY)',
  'a send_email step from an unverified domain is refused, naming the step'
);
select throws_ok(
  $$insert into public.workflows (name, trigger_config, action_config)
    values ('reply', '{"type": "manual"}',
            '{"steps": [{"type": "send_email", "subject": "Hi", "body": "Hello", "reply_to": "x@mallory.example"}]}')$$,
  '23514', null,
  'a send_email step''s reply_to is checked too'
);
select lives_ok(
  $$insert into public.workflows (name, trigger_config, action_config)
    values ('good', '{"type": "manual"}',
            '{"steps": [{"type": "send_email", "subject": "Hi", "body": "Hello", "from_email": "me@alice.example",
                         "reply_to": "team@alice.example"}]}')$$,
  'a send_email step from a verified domain is accepted'
);
select throws_ok(
  $$update public.workflows
    set action_config = '{"steps": [{"type": "send_email", "subject": "Hi", "body": "Hello", "from_email": "me@bank.example"}]}'
    where name = 'good'$$,
  '23514', null,
  'an update is checked like an insert'
);

-- An owner with their own Resend key sends from what their key allows.
select tests.clear_authentication();
insert into public.user_secrets (user_id, secret_name, encrypted_value)
values (tests.get_user_id('alice'), 'RESEND_API_KEY', 'v1:ciphertext');
select tests.authenticate_as('alice');

select lives_ok(
  $$update public.email_campaigns set status = 'scheduled', send_at = now() + interval '1 day' where subject = 'Draft'$$,
  'with her own RESEND_API_KEY alice may schedule any sender'
);
select lives_ok(
  $$insert into public.workflows (name, trigger_config, action_config)
    values ('own key', '{"type": "manual"}',
            '{"steps": [{"type": "send_email", "subject": "Hi", "body": "Hello", "from_email": "ceo@bank.example"}]}')$$,
  'and any send_email sender'
);

-- As mallory -----------------------------------------------------------------------------
select tests.authenticate_as('mallory');
select is(
  (select count(*)::integer from public.sending_domains where domain like 'alice%' or domain like 'pending%'),
  0,
  'mallory sees none of alice''s domains'
);
select throws_ok(
  $$delete from public.sending_domains where domain = 'alice.example'$$,
  '42501', null,
  'mallory cannot delete alice''s domain (nor can alice: the domains function removes it from Resend too)'
);

select * from finish();
rollback;
