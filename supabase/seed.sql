-- Demo data for local use only: loaded after the migrations by `scripts/db reset` (and so by
-- the first `scripts/start`) and by `supabase db reset`. Never run it against a real project.
--
-- One account, demo@beacon.local (password `beacon-demo`, for the Docker stack's Auth), owning
-- a little of everything. Fixed ids keep the demo stable between resets, and every insert
-- skips rows that already exist, so loading it twice changes nothing. It runs as `postgres`,
-- which bypasses RLS, so each row names its owner instead of relying on auth.uid().
-- Lead scores are not inserted: the scoring trigger computes them (company +10, phone +5).

begin;

insert into auth.users (
  instance_id, id, aud, role, email, encrypted_password, email_confirmed_at,
  raw_app_meta_data, raw_user_meta_data
)
values (
  '00000000-0000-0000-0000-000000000000',
  'de000000-0000-4000-8000-000000000001',
  'authenticated',
  'authenticated',
  'demo@beacon.local',
  extensions.crypt('beacon-demo', extensions.gen_salt('bf')),
  now(),
  '{"provider": "email", "providers": ["email"]}',
  '{"full_name": "Demo Marketer"}'
)
on conflict do nothing;

-- Supabase Auth (the Docker stack) also needs an identity and empty token strings to let the
-- demo account sign in with its password; the Docker-free stand-in has neither.
do $$
declare
  demo constant uuid := 'de000000-0000-4000-8000-000000000001';
begin
  if to_regclass('auth.identities') is not null then
    insert into auth.identities (
      id, user_id, provider_id, provider, identity_data, last_sign_in_at, created_at, updated_at
    )
    values (
      demo, demo, demo::text, 'email',
      jsonb_build_object('sub', demo::text, 'email', 'demo@beacon.local', 'email_verified', true),
      now(), now(), now()
    )
    on conflict do nothing;
  end if;
  if exists (
    select from information_schema.columns
    where table_schema = 'auth' and table_name = 'users' and column_name = 'confirmation_token'
  ) then
    execute $sql$
      update auth.users
      set confirmation_token = coalesce(confirmation_token, ''),
          recovery_token = coalesce(recovery_token, ''),
          email_change = coalesce(email_change, ''),
          email_change_token_new = coalesce(email_change_token_new, '')
      where id = $1
    $sql$ using demo;
  end if;
end;
$$;

insert into public.campaigns (id, user_id, name, type, status, description, config)
values
  ('ca000000-0000-4000-8000-000000000001', 'de000000-0000-4000-8000-000000000001',
   'Spring launch', 'mixed', 'active',
   'Announce the spring release by email and on social.',
   '{"goal": "signups", "budget_eur": 2000}'),
  ('ca000000-0000-4000-8000-000000000002', 'de000000-0000-4000-8000-000000000001',
   'Webinar follow-up', 'email', 'draft',
   'Nurture the people who attended the March webinar.',
   '{}')
on conflict do nothing;

insert into public.leads (
  id, user_id, email, first_name, last_name, company, phone, status, source, tags, custom_fields
)
values
  ('1e000000-0000-4000-8000-000000000001', 'de000000-0000-4000-8000-000000000001',
   'ada@analytical.example', 'Ada', 'Lovelace', 'Analytical Engines', '+44 20 7946 0001',
   'qualified', 'webinar', '{hot}', '{"role": "CTO"}'),
  ('1e000000-0000-4000-8000-000000000002', 'de000000-0000-4000-8000-000000000001',
   'grace@cobol.example', 'Grace', 'Hopper', 'Compilers Inc', null,
   'contacted', 'landing_page', '{}', '{}'),
  ('1e000000-0000-4000-8000-000000000003', 'de000000-0000-4000-8000-000000000001',
   'alan@turing.example', 'Alan', 'Turing', null, '+44 161 496 0002',
   'new', 'referral', '{}', '{}'),
  ('1e000000-0000-4000-8000-000000000004', 'de000000-0000-4000-8000-000000000001',
   'edsger@example.com', 'Edsger', null, null, null,
   'new', 'landing_page', '{}', '{}')
on conflict do nothing;

-- The launch post is a draft: a social post is scheduled only with targets (social_posts), and
-- the demo has no social connection until one is made.
insert into public.content (
  id, user_id, title, content_type, content, metadata, status, scheduled_at
)
values
  ('c0000000-0000-4000-8000-000000000001', 'de000000-0000-4000-8000-000000000001',
   'Spring release announcement', 'email',
   '<h1>Spring is here</h1><p>Everything new in Beacon this season.</p>',
   '{"campaign": "spring"}', 'published', null),
  ('c0000000-0000-4000-8000-000000000002', 'de000000-0000-4000-8000-000000000001',
   'Launch day post', 'social_post',
   'Beacon''s spring release is live: smarter lead scoring and scheduled posts.',
   '{"platforms": ["linkedin", "twitter"]}', 'draft', now() + interval '1 day')
on conflict do nothing;

-- The demo's sending domain, already verified: with the platform's Resend key a campaign may
-- only send from a verified domain (on a real project the domains function registers it with
-- Resend and verifies its DNS records; locally mail goes to the outbox).
insert into public.sending_domains (id, user_id, domain, status, provider_domain_id, verified_at, checked_at)
values
  ('d0000000-0000-4000-8000-000000000001', 'de000000-0000-4000-8000-000000000001',
   'beacon.local', 'verified', 'demo-beacon-local', now(), now())
on conflict do nothing;

insert into public.email_campaigns (
  id, user_id, campaign_id, subject, content, template_id, recipient_list, status, metrics,
  from_email, from_name
)
values
  ('e0000000-0000-4000-8000-000000000001', 'de000000-0000-4000-8000-000000000001',
   'ca000000-0000-4000-8000-000000000001', 'Spring is here',
   '<h1>Spring is here</h1><p>Everything new in Beacon this season.</p>',
   'c0000000-0000-4000-8000-000000000001',
   '["ada@analytical.example", "grace@cobol.example"]', 'draft', '{}',
   'demo@beacon.local', 'Beacon Demo')
on conflict do nothing;

insert into public.analytics_events (
  id, user_id, event_type, event_name, properties, "timestamp", session_id, user_agent, ip_address
)
values
  ('ae000000-0000-4000-8000-000000000001', 'de000000-0000-4000-8000-000000000001',
   'page_view', 'pricing', '{"path": "/pricing"}', now() - interval '2 hours',
   'demo-session-1', 'Mozilla/5.0 (demo)', '203.0.113.7'),
  ('ae000000-0000-4000-8000-000000000002', 'de000000-0000-4000-8000-000000000001',
   'form_submit', 'webinar_signup', '{"form": "webinar"}', now() - interval '1 hour',
   'demo-session-1', 'Mozilla/5.0 (demo)', '203.0.113.7'),
  ('ae000000-0000-4000-8000-000000000003', 'de000000-0000-4000-8000-000000000001',
   'email_open', 'spring_launch', '{"email_campaign": "e0000000-0000-4000-8000-000000000001"}',
   now() - interval '10 minutes', null, null, null)
on conflict do nothing;

insert into public.workflows (id, user_id, name, description, trigger_config, action_config)
values
  ('f0000000-0000-4000-8000-000000000001', 'de000000-0000-4000-8000-000000000001',
   'Qualify new leads',
   'Marks every new lead qualified and tags it hot.',
   '{"type": "lead_created"}',
   '{"steps": [{"type": "set_status", "status": "qualified"}, {"type": "add_tag", "tag": "hot"}]}')
on conflict do nothing;

-- user_id is filled in from the workflow by trigger.
insert into public.workflow_executions (
  id, workflow_id, trigger_data, status, started_at, completed_at
)
values
  ('fe000000-0000-4000-8000-000000000001', 'f0000000-0000-4000-8000-000000000001',
   '{"lead_id": "1e000000-0000-4000-8000-000000000001"}', 'completed',
   now() - interval '1 hour', now() - interval '1 hour' + interval '2 seconds')
on conflict do nothing;

-- Lead scoring and workflows: the demo user's own scoring rules on top of the default rule
-- and a qualification threshold; then a lead arrives after "Qualify new leads" exists, so
-- the workflow fires for it for real, and the lead views the pricing page. pg_cron applies
-- rule changes and runs workflows within a minute; the demo does both at once.
insert into public.scoring_settings (user_id, qualification_threshold, engagement_half_life_days)
values ('de000000-0000-4000-8000-000000000001', 40, 14)
on conflict do nothing;

insert into public.scoring_rules (id, user_id, name, condition, points)
values
  ('5c000000-0000-4000-8000-000000000001', 'de000000-0000-4000-8000-000000000001',
   'Business email', '{"type": "email_domain", "free_mail": false}', 10),
  ('5c000000-0000-4000-8000-000000000002', 'de000000-0000-4000-8000-000000000001',
   'Decision maker', '{"type": "custom_field", "key": "role", "op": "in", "value": ["CEO", "CTO", "VP"]}', 15),
  ('5c000000-0000-4000-8000-000000000003', 'de000000-0000-4000-8000-000000000001',
   'Pricing page views',
   '{"type": "event", "event_type": "page_view", "properties": {"path": "/pricing"}, "cap": 15, "period": "week"}', 5)
on conflict do nothing;
select private.rescore_leads('de000000-0000-4000-8000-000000000001');

insert into public.leads (id, user_id, email, first_name, last_name, company, status, source, custom_fields)
values
  ('1e000000-0000-4000-8000-000000000005', 'de000000-0000-4000-8000-000000000001',
   'linus@kernel.example', 'Linus', 'Torvalds', 'Kernel Labs', 'new', 'landing_page', '{"role": "CTO"}')
on conflict do nothing;
select private.run_workflow_batch();

insert into public.analytics_events (id, user_id, event_type, event_name, properties, "timestamp")
values
  ('ae000000-0000-4000-8000-000000000004', 'de000000-0000-4000-8000-000000000001',
   'page_view', 'pricing', '{"path": "/pricing", "lead_id": "1e000000-0000-4000-8000-000000000005"}',
   now() - interval '5 minutes')
on conflict do nothing;

commit;
