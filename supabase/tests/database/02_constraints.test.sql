-- Constraints, the first validation layer: every check with a bad value fails with the
-- right SQLSTATE and names its constraint; the boundary values and a full row pass.
-- Rows are inserted as postgres (RLS does not apply) through tests.insert_row, which
-- fills in the other required columns.
begin;
\ir _helpers.psql

select plan(106);

do $$
begin
  perform tests.create_user('alice');
  perform tests.create_user('bob');
end;
$$;

-- tests.rejects: an insert with these column values breaks the named check (23514). A row
-- of the partitioned analytics_events (timestamp now) is checked in this month's partition.
create function tests.rejects(tbl text, overrides jsonb, check_name text, description text)
returns text
language sql
as $$
  select throws_ok(
    format('select tests.insert_row(%L, %L, %L)', tbl, 'alice', overrides),
    '23514',
    format('new row for relation "%s" violates check constraint "%s"',
      case when tbl = 'analytics_events'
        then private.analytics_event_partition_name(date_trunc('month', now() at time zone 'UTC')::date)
        else tbl end,
      check_name),
    description
  )
$$;

-- tests.requires: an insert with this column null breaks its not-null constraint (23502).
create function tests.requires(tbl text, col text)
returns text
language sql
as $$
  select throws_ok(
    format('select tests.insert_row(%L, %L, %L)', tbl, 'alice', jsonb_build_object(col, null)),
    '23502',
    format('null value in column "%s" of relation "%s" violates not-null constraint', col, tbl),
    format('%s.%s is required', tbl, col)
  )
$$;

-- tests.accepts: an insert with these column values succeeds.
create function tests.accepts(tbl text, overrides jsonb, description text, owner text default 'alice')
returns text
language sql
as $$
  select lives_ok(format('select tests.insert_row(%L, %L, %L)', tbl, owner, overrides), description)
$$;

-- campaigns ----------------------------------------------------------------------------
select tests.rejects('campaigns', '{"name": ""}', 'campaigns_name_check', 'campaigns.name cannot be empty');
select tests.rejects('campaigns', '{"name": "   "}', 'campaigns_name_check', 'campaigns.name cannot be blank');
select tests.rejects('campaigns', jsonb_build_object('name', E'\t\n'), 'campaigns_name_check',
  'campaigns.name cannot be only tabs and newlines');
select tests.rejects('campaigns', jsonb_build_object('name', repeat('n', 201)), 'campaigns_name_check',
  'campaigns.name cannot exceed 200 characters');
select tests.accepts('campaigns', jsonb_build_object('name', repeat('n', 200)), 'campaigns.name of 200 characters is fine');
select tests.requires('campaigns', 'name');
select tests.rejects('campaigns', '{"type": "fax"}', 'campaigns_type_check', 'campaigns.type must be a known type');
select tests.requires('campaigns', 'type');
select tests.rejects('campaigns', '{"status": "archived"}', 'campaigns_status_check',
  'campaigns.status must be a known status');
select tests.rejects('campaigns', jsonb_build_object('description', repeat('d', 5001)), 'campaigns_description_check',
  'campaigns.description cannot exceed 5000 characters');
select tests.accepts('campaigns', jsonb_build_object('description', repeat('d', 5000)),
  'campaigns.description of 5000 characters is fine');
select tests.rejects('campaigns', '{"config": []}', 'campaigns_config_check', 'campaigns.config cannot be an array');
select tests.rejects('campaigns', '{"config": "on"}', 'campaigns_config_check', 'campaigns.config cannot be a string');
select tests.accepts('campaigns',
  '{"name": "Q3 push", "type": "mixed", "status": "active", "description": "All channels", "config": {"budget": 100}}',
  'a complete campaign is accepted');

-- leads --------------------------------------------------------------------------------
select tests.rejects('leads', '{"email": "not-an-email"}', 'leads_email_check', 'leads.email needs an @');
select tests.rejects('leads', '{"email": "ann@localhost"}', 'leads_email_check', 'leads.email needs a dotted domain');
select tests.rejects('leads', '{"email": "ann smith@example.test"}', 'leads_email_check',
  'leads.email cannot contain spaces');
select tests.rejects('leads', '{"email": "@example.test"}', 'leads_email_check', 'leads.email needs a local part');
select tests.rejects('leads', jsonb_build_object('email', repeat('a', 308) || '@example.test'), 'leads_email_check',
  'leads.email cannot exceed 320 characters');
select tests.accepts('leads', jsonb_build_object('email', repeat('a', 307) || '@example.test'),
  'leads.email of 320 characters is fine');
select tests.requires('leads', 'email');
select tests.rejects('leads', '{"first_name": ""}', 'leads_first_name_check', 'leads.first_name cannot be empty');
select tests.rejects('leads', jsonb_build_object('first_name', repeat('f', 201)), 'leads_first_name_check',
  'leads.first_name cannot exceed 200 characters');
select tests.rejects('leads', '{"last_name": "  "}', 'leads_last_name_check', 'leads.last_name cannot be blank');
select tests.rejects('leads', jsonb_build_object('last_name', repeat('l', 201)), 'leads_last_name_check',
  'leads.last_name cannot exceed 200 characters');
select tests.rejects('leads', '{"company": ""}', 'leads_company_check', 'leads.company cannot be empty');
select tests.rejects('leads', jsonb_build_object('company', repeat('c', 201)), 'leads_company_check',
  'leads.company cannot exceed 200 characters');
select tests.rejects('leads', '{"phone": "call me"}', 'leads_phone_check', 'leads.phone must look like a number');
select tests.rejects('leads', '{"phone": "12"}', 'leads_phone_check', 'leads.phone needs at least 3 characters');
select tests.rejects('leads', jsonb_build_object('phone', repeat('5', 33)), 'leads_phone_check',
  'leads.phone cannot exceed 32 characters');
select tests.rejects('leads', '{"status": "hot"}', 'leads_status_check', 'leads.status must be a known status');
select tests.rejects('leads', jsonb_build_object('source', repeat('s', 201)), 'leads_source_check',
  'leads.source cannot exceed 200 characters');
select tests.rejects('leads', '{"tags": ["vip", null]}', 'leads_tags_check', 'leads.tags cannot hold a null');
select tests.rejects('leads', jsonb_build_object('tags', (select jsonb_agg('t' || i) from generate_series(1, 101) as i)),
  'leads_tags_check', 'leads.tags cannot hold more than 100 tags');
select tests.accepts('leads', jsonb_build_object('tags', (select jsonb_agg('t' || i) from generate_series(1, 100) as i)),
  'leads.tags with 100 tags is fine');
select tests.requires('leads', 'tags');
select tests.rejects('leads', '{"custom_fields": ["a"]}', 'leads_custom_fields_check',
  'leads.custom_fields must be an object');
select tests.accepts('leads',
  '{"email": "Ann.Lee@Example.test", "first_name": "Ann", "last_name": "Lee", "company": "Acme",
    "phone": "+1 (555) 010-0199", "status": "qualified", "source": "webinar", "tags": ["vip"],
    "custom_fields": {"plan": "pro"}}',
  'a complete lead is accepted');
select throws_ok(
  $$select tests.insert_row('leads', 'alice', '{"email": "ann.lee@example.TEST"}')$$,
  '23505',
  'duplicate key value violates unique constraint "leads_user_id_email_key"',
  'leads.email is unique per user, whatever its case'
);
select tests.accepts('leads', '{"email": "ann.lee@example.test"}', 'another user may have a lead with the same email',
  'bob');

-- The score check, with the scoring trigger (which would overwrite score) out of the way.
alter table public.leads disable trigger set_lead_score;
select tests.rejects('leads', '{"score": 100001}', 'leads_score_check', 'leads.score cannot exceed 100000');
select tests.rejects('leads', '{"score": -100001}', 'leads_score_check', 'leads.score cannot go below -100000');
select tests.accepts('leads', '{"score": 100000}', 'leads.score of 100000 is fine');
alter table public.leads enable trigger set_lead_score;

-- content ------------------------------------------------------------------------------
select tests.rejects('content', '{"title": ""}', 'content_title_check', 'content.title cannot be empty');
select tests.rejects('content', jsonb_build_object('title', repeat('t', 301)), 'content_title_check',
  'content.title cannot exceed 300 characters');
select tests.accepts('content', jsonb_build_object('title', repeat('t', 300)), 'content.title of 300 characters is fine');
select tests.rejects('content', '{"content_type": "tweet"}', 'content_content_type_check',
  'content.content_type must be a known type');
select tests.rejects('content', jsonb_build_object('content', repeat('c', 1000001)), 'content_content_check',
  'content.content cannot exceed 1,000,000 characters');
select tests.requires('content', 'content');
select tests.rejects('content', '{"metadata": [1]}', 'content_metadata_check', 'content.metadata must be an object');
select tests.rejects('content', '{"status": "deleted"}', 'content_status_check', 'content.status must be a known status');
select tests.rejects('content', '{"status": "scheduled"}', 'content_scheduled_needs_time_check',
  'scheduled content needs scheduled_at');
select tests.accepts('content', '{"status": "scheduled", "scheduled_at": "2030-01-01T09:00:00Z"}',
  'scheduled content with scheduled_at is accepted');

-- social_connections -------------------------------------------------------------------
select tests.rejects('social_connections', '{"platform": "myspace"}', 'social_connections_platform_check',
  'social_connections.platform must be a known platform');
select tests.rejects('social_connections', '{"platform_user_id": " "}', 'social_connections_platform_user_id_check',
  'social_connections.platform_user_id cannot be blank');
select tests.rejects('social_connections', jsonb_build_object('platform_user_id', repeat('p', 201)),
  'social_connections_platform_user_id_check', 'social_connections.platform_user_id cannot exceed 200 characters');
select tests.rejects('social_connections', jsonb_build_object('username', repeat('u', 201)),
  'social_connections_username_check', 'social_connections.username cannot exceed 200 characters');
select tests.requires('social_connections', 'access_token');
select tests.accepts('social_connections',
  '{"platform": "twitter", "platform_user_id": "12345", "username": "alice", "access_token": "ct1",
    "refresh_token": "ct2", "expires_at": "2030-01-01T00:00:00Z"}',
  'a complete social connection is accepted');
select throws_ok(
  $$select tests.insert_row('social_connections', 'alice', '{"platform": "twitter"}')$$,
  '23505',
  'duplicate key value violates unique constraint "social_connections_user_id_platform_key"',
  'social_connections: one connection per user and platform'
);
select tests.accepts('social_connections', '{"platform": "twitter"}', 'another user may connect the same platform',
  'bob');

-- email_campaigns ----------------------------------------------------------------------
select tests.rejects('email_campaigns', '{"subject": ""}', 'email_campaigns_subject_check',
  'email_campaigns.subject cannot be empty');
select tests.rejects('email_campaigns', jsonb_build_object('subject', repeat('s', 999)), 'email_campaigns_subject_check',
  'email_campaigns.subject cannot exceed 998 characters');
select tests.accepts('email_campaigns', jsonb_build_object('subject', repeat('s', 998)),
  'email_campaigns.subject of 998 characters is fine');
select tests.rejects('email_campaigns', jsonb_build_object('content', repeat('c', 1000001)),
  'email_campaigns_content_check', 'email_campaigns.content cannot exceed 1,000,000 characters');
select tests.rejects('email_campaigns', '{"recipient_list": {"to": "a@example.test"}}',
  'email_campaigns_recipient_list_check', 'email_campaigns.recipient_list must be an array');
select tests.requires('email_campaigns', 'recipient_list');
select tests.rejects('email_campaigns', '{"status": "queued"}', 'email_campaigns_status_check',
  'email_campaigns.status must be a known status');
select tests.rejects('email_campaigns', '{"status": "scheduled"}', 'email_campaigns_scheduled_needs_send_at_check',
  'a scheduled email campaign needs send_at');
select tests.rejects('email_campaigns', '{"metrics": []}', 'email_campaigns_metrics_check',
  'email_campaigns.metrics must be an object');
select throws_ok(
  format('select tests.insert_row(%L, %L, %L)', 'email_campaigns', 'alice',
    jsonb_build_object('campaign_id', tests.insert_row('campaigns', 'bob'))),
  '23503', null,
  'an email campaign cannot point at another user''s campaign'
);
select throws_ok(
  format('select tests.insert_row(%L, %L, %L)', 'email_campaigns', 'alice',
    jsonb_build_object('template_id', tests.insert_row('content', 'bob'))),
  '23503', null,
  'an email campaign cannot use another user''s content as template'
);
select throws_ok(
  format('select tests.insert_row(%L, %L, %L)', 'email_campaigns', 'alice',
    jsonb_build_object('campaign_id', gen_random_uuid())),
  '23503', null,
  'an email campaign cannot point at a campaign that does not exist'
);
select tests.accepts('email_campaigns',
  jsonb_build_object(
    'campaign_id', tests.insert_row('campaigns', 'alice'),
    'template_id', tests.insert_row('content', 'alice'),
    'recipient_list', '["a@example.test", "b@example.test"]'::jsonb,
    'status', 'scheduled',
    'send_at', '2030-01-01T09:00:00Z',
    'metrics', '{"sent": 0}'::jsonb
  ),
  'a complete scheduled email campaign with its own campaign and template is accepted');

-- analytics_events ---------------------------------------------------------------------
select tests.rejects('analytics_events', '{"event_type": ""}', 'analytics_events_event_type_check',
  'analytics_events.event_type cannot be empty');
select tests.rejects('analytics_events', jsonb_build_object('event_type', repeat('e', 101)),
  'analytics_events_event_type_check', 'analytics_events.event_type cannot exceed 100 characters');
select tests.rejects('analytics_events', '{"event_name": " "}', 'analytics_events_event_name_check',
  'analytics_events.event_name cannot be blank');
select tests.rejects('analytics_events', jsonb_build_object('event_name', repeat('e', 201)),
  'analytics_events_event_name_check', 'analytics_events.event_name cannot exceed 200 characters');
select tests.rejects('analytics_events', '{"properties": "x"}', 'analytics_events_properties_check',
  'analytics_events.properties must be an object');
select tests.rejects('analytics_events', jsonb_build_object('session_id', repeat('s', 201)),
  'analytics_events_session_id_check', 'analytics_events.session_id cannot exceed 200 characters');
select tests.rejects('analytics_events', jsonb_build_object('user_agent', repeat('u', 1001)),
  'analytics_events_user_agent_check', 'analytics_events.user_agent cannot exceed 1000 characters');
select tests.accepts('analytics_events',
  '{"event_type": "email_open", "event_name": "newsletter", "properties": {"id": 1},
    "session_id": "s1", "user_agent": "Mozilla/5.0", "ip_address": "192.0.2.1"}',
  'a complete analytics event is accepted');

-- user_secrets -------------------------------------------------------------------------
select tests.rejects('user_secrets', '{"secret_name": "resend_api_key"}', 'user_secrets_secret_name_check',
  'user_secrets.secret_name must be upper case');
select tests.rejects('user_secrets', '{"secret_name": "1PASSWORD"}', 'user_secrets_secret_name_check',
  'user_secrets.secret_name must start with a letter');
select tests.rejects('user_secrets', '{"secret_name": "RESEND-KEY"}', 'user_secrets_secret_name_check',
  'user_secrets.secret_name allows letters, digits and underscores only');
select tests.rejects('user_secrets', jsonb_build_object('secret_name', 'K' || repeat('E', 64)),
  'user_secrets_secret_name_check', 'user_secrets.secret_name cannot exceed 64 characters');
select tests.accepts('user_secrets', jsonb_build_object('secret_name', 'K' || repeat('E', 63)),
  'user_secrets.secret_name of 64 characters is fine');
select tests.requires('user_secrets', 'encrypted_value');
select tests.accepts('user_secrets', '{"secret_name": "RESEND_API_KEY"}', 'a secret RESEND_API_KEY is accepted');
select throws_ok(
  $$select tests.insert_row('user_secrets', 'alice', '{"secret_name": "RESEND_API_KEY"}')$$,
  '23505',
  'duplicate key value violates unique constraint "user_secrets_user_id_secret_name_key"',
  'user_secrets: one secret per user and name'
);

-- workflows ----------------------------------------------------------------------------
select tests.rejects('workflows', '{"name": ""}', 'workflows_name_check', 'workflows.name cannot be empty');
select tests.rejects('workflows', jsonb_build_object('name', repeat('w', 201)), 'workflows_name_check',
  'workflows.name cannot exceed 200 characters');
select tests.rejects('workflows', jsonb_build_object('description', repeat('d', 5001)), 'workflows_description_check',
  'workflows.description cannot exceed 5000 characters');
select tests.rejects('workflows', '{"trigger_config": {}}', 'workflows_trigger_config_check',
  'workflows.trigger_config needs a "type"');
select tests.rejects('workflows', '{"trigger_config": {"type": 1}}', 'workflows_trigger_config_check',
  'workflows.trigger_config "type" must be a string');
select tests.rejects('workflows', '{"trigger_config": [{"type": "x"}]}', 'workflows_trigger_config_check',
  'workflows.trigger_config must be an object');
select tests.requires('workflows', 'trigger_config');
select tests.rejects('workflows', '{"action_config": {}}', 'workflows_action_config_check',
  'workflows.action_config needs "steps"');
select tests.rejects('workflows', '{"action_config": {"steps": {}}}', 'workflows_action_config_check',
  'workflows.action_config "steps" must be an array');
select tests.requires('workflows', 'action_config');
select tests.accepts('workflows',
  '{"name": "Nurture", "description": "Welcome series", "trigger_config": {"type": "lead_created"},
    "action_config": {"steps": [{"type": "send_email", "subject": "Welcome", "body": "Hi {{first_name|there}}"}]},
    "is_active": false}',
  'a complete workflow is accepted');

-- workflow_executions ------------------------------------------------------------------
select tests.rejects('workflow_executions', '{"trigger_data": []}', 'workflow_executions_trigger_data_check',
  'workflow_executions.trigger_data must be an object');
select tests.rejects('workflow_executions', '{"status": "queued"}', 'workflow_executions_status_check',
  'workflow_executions.status must be a known status');
select tests.rejects('workflow_executions',
  '{"started_at": "2030-01-02T00:00:00Z", "completed_at": "2030-01-01T00:00:00Z"}',
  'workflow_executions_completed_at_check', 'workflow_executions cannot complete before they start');
select tests.accepts('workflow_executions',
  '{"status": "completed", "trigger_data": {"lead": 1},
    "started_at": "2030-01-01T00:00:00Z", "completed_at": "2030-01-01T00:00:05Z"}',
  'a complete workflow execution is accepted');
select throws_ok(
  format('select tests.insert_row(%L, %L, %L)', 'workflow_executions', 'alice',
    jsonb_build_object('workflow_id', gen_random_uuid())),
  '23503', null,
  'a workflow execution needs an existing workflow'
);

select * from finish();
rollback;
